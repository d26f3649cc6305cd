"""
Sparse text classification
==========================

Texts as a TF-IDF matrix -- a SciPy CSR matrix, most of whose entries are
zero -- classified end to end without ever being densified: the first
layer reads each row's stored values.  The corpus is made here (four
topics, each with its own words, drowned in words all topics share), so the
example needs no download.

Two ways to update the first layer's weights are compared:
``sparse_update="exact"`` (the default) updates every weight at every step,
which is what the same fit on the dense matrix does; ``"lazy"`` updates
only the rows of the words a batch holds (``torch.optim.SparseAdam``'s
rule), much less work when the vocabulary is wide.
"""

import matplotlib.pyplot as plt
import numpy as np
import scipy.sparse
from sklearn.feature_extraction.text import TfidfVectorizer

import fastmlp as fm
from fastmlp.preprocessing import train_test_split

TOPICS = {
    "space": "orbit rocket launch planet moon satellite crater comet telescope astronaut "
             "galaxy nebula asteroid probe gravity lunar solar mars jupiter capsule",
    "cooking": "recipe oven flour butter garlic simmer roast sauce onion whisk dough pepper "
               "salt bake fry spice kitchen pan broth herbs",
    "football": "goal striker referee penalty match league keeper tackle stadium coach "
                "offside derby season midfield fans cup pitch header corner transfer",
    "computing": "compiler kernel thread cache memory processor python debugger linker "
                 "server network database binary algorithm socket array pointer loop code",
}
rng = np.random.default_rng(0)
shared = np.array([f"w{i:05d}" for i in range(20_000)])  # words every topic uses alike
own = {topic: np.array(words.split()) for topic, words in TOPICS.items()}


def document(topic):
    """Mostly shared words, a few of the topic's own and one stray word of another topic."""
    words = list(rng.choice(shared, size=rng.integers(20, 60)))
    words += list(rng.choice(own[topic], size=rng.integers(2, 6)))
    other = rng.choice([t for t in TOPICS if t != topic])
    words.append(rng.choice(own[other]))
    rng.shuffle(words)
    return " ".join(words)


names = list(TOPICS)
labels = rng.integers(0, len(names), 4000)
texts = [document(names[k]) for k in labels]
print(texts[0][:120], "...", f"({names[labels[0]]})")

# %%
# The TF-IDF matrix goes in as it is: ``Trainer.fit``, ``Model.evaluate``
# and ``Model.predict`` take the CSR matrix (any SciPy sparse format is
# converted to CSR once).

vectorizer = TfidfVectorizer()
X = vectorizer.fit_transform(texts)
assert scipy.sparse.issparse(X)
print(f"X: {type(X).__name__} {X.shape[0]} x {X.shape[1]}, "
      f"{X.nnz / (X.shape[0] * X.shape[1]):.2%} stored")
train, test = train_test_split(np.arange(len(texts)), test_size=0.25, stratify=labels, seed=0)
X_train, X_test, y_train, y_test = X[train], X[test], labels[train], labels[test]

histories, models = {}, {}
for update in ("exact", "lazy"):
    model = fm.Model([X.shape[1], 64, len(names)], seed=0)
    trainer = fm.Trainer(model, fm.optim.Adam(lr=1e-3), batch_size=32, epochs=8, seed=0,
                         verbose=0, sparse_update=update)
    histories[update] = trainer.fit(X_train, y_train, validation_data=(X_test, y_test))
    models[update] = model
    print(f"{update:5}: test accuracy {model.evaluate(X_test, y_test)['accuracy']:.4f}, "
          f"{sum(histories[update]['time']):.2f} s for 8 epochs")

# %%
# Accuracy per epoch and the time each epoch took.  The TF-IDF rows are
# normalised already, so the model has no preprocessing: ``"standardize"``
# (which on sparse input scales the columns without centring them, since
# centring would fill every zero) would scale each rare word up to unit
# variance, and most of these columns are rare words that carry only noise.

fig, (ax_acc, ax_time) = plt.subplots(1, 2, figsize=(10, 4))
for update, history in histories.items():
    epochs = np.arange(1, len(history["loss"]) + 1)
    ax_acc.plot(epochs, history["val_accuracy"], marker="o", label=f'sparse_update="{update}"')
    ax_time.plot(epochs, np.array(history["time"]) * 1e3, marker="o", label=update)
ax_acc.set_xlabel("epoch")
ax_acc.set_ylabel("test accuracy")
ax_acc.legend()
ax_time.set_xlabel("epoch")
ax_time.set_ylabel("ms per epoch")
fig.tight_layout()

# %%
# New texts go through the same vectorizer and into ``predict``, still
# sparse.

new = vectorizer.transform(["the rocket reached orbit around the moon",
                            "simmer the sauce with garlic and butter"])
for text, probabilities in zip(["rocket, orbit, moon", "sauce, garlic, butter"],
                               models["exact"].predict(new)):
    print(f"{text:22} -> {names[int(np.argmax(probabilities))]}")
