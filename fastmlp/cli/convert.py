"""``fastmlp convert``: a file too large for memory streamed into memory-mappable ``.npy`` files.

A CSV file becomes one dense ``.npy`` matrix
(:func:`fastmlp.data.convert.convert_csv`); an svmlight / libsvm file the
three arrays of a sparse matrix (:func:`fastmlp.data.convert.convert_svmlight`).
"""

import sys

from ..data.convert import convert_csv, convert_svmlight, svmlight_prefix
from ..data.encoding import IMPUTE_METHODS
from ..data.svmlight import SUFFIXES as SVMLIGHT_SUFFIXES
from ..data.tables import companion_paths, sparse_paths
from .settings import column_names, zero_based

__all__ = ["add_convert_command", "convert_command"]


def add_convert_command(sub):
    """Add the ``convert`` sub-command to ``sub`` (argparse sub-parsers)."""
    convert = sub.add_parser(
        "convert", help="stream a CSV or svmlight file into memory-mappable .npy files",
        description="Convert a CSV file (header row) into OUT.npy, the encoded features, "
                    "plus OUT.target.npy and OUT.meta.json, reading it row by row (twice); "
                    "or an svmlight / libsvm file (.svm, .svmlight, .libsvm) into the three "
                    "arrays of a sparse matrix, OUT.data.npy, OUT.indices.npy and "
                    "OUT.indptr.npy (OUT: a prefix, or a directory), plus OUT.target.npy and "
                    "OUT.meta.json, reading it once, a block at a time. For files larger than "
                    "memory: fastmlp train, predict and evaluate memory-map the arrays "
                    "(--data OUT.npy or OUT.meta.json); a model trained on them reads new "
                    "files the same way. Nothing is left behind by a conversion that fails.")
    convert.add_argument("data", metavar="FILE", help="CSV file with a header row, or svmlight "
                                                      "file")
    convert.add_argument("out", help="output .npy file (CSV); prefix or directory (svmlight)")
    convert.add_argument("--target", help="target column (CSV; required)")
    convert.add_argument("--dtype", choices=("float32", "float64"), default="float32",
                         help="dtype of the features (default float32)")
    convert.add_argument("--impute", choices=IMPUTE_METHODS, default=None,
                         help="CSV: fill missing feature values with the mean or median of all "
                              "rows (default: refuse them)")
    convert.add_argument("--categorical", type=column_names, default=[], metavar="COLUMNS",
                         help="CSV: comma-separated feature columns to one-hot encode even if "
                              "numeric")
    convert.add_argument("--zero-based", type=zero_based, default="auto",
                         metavar="{auto,true,false}",
                         help="svmlight: whether the indices count from 0 (default auto: when "
                              "an index 0 appears)")
    convert.add_argument("--multilabel", action="store_true", default=None,
                         help="svmlight: rows list any number of labels, comma-separated "
                              "(default: when a row lists several)")


def convert_command(args, out=None):
    """Run ``fastmlp convert``; returns the written metadata."""
    out = sys.stdout if out is None else out
    if str(args.data).lower().endswith(SVMLIGHT_SUFFIXES):
        if args.target is not None or args.impute is not None or args.categorical:
            raise ValueError(f"{args.data} is an svmlight file: --target, --impute and "
                             "--categorical apply to CSV files")
        meta = convert_svmlight(args.data, args.out, dtype=args.dtype,
                                zero_based=args.zero_based, multilabel=args.multilabel)
        paths = sparse_paths(svmlight_prefix(args.data, args.out))
        labels = f"{len(meta['classes'])} labels (multi-label)" if meta["multilabel"] \
            else "labels"
        print(f"{meta['rows']:,} rows x {meta['features']['n_features']:,} features, "
              f"{meta['nnz']:,} stored values ({meta['dtype']}), written to {paths.data}, "
              f"{paths.indices} and {paths.indptr}; {labels} in {paths.target}; train with "
              f"--data {paths.meta}", file=out)
        return meta
    if args.target is None:
        raise ValueError(f"{args.data}: converting a CSV file needs --target COLUMN")
    if args.zero_based != "auto" or args.multilabel:
        raise ValueError(f"{args.data}: --zero-based and --multilabel apply to svmlight files")
    meta = convert_csv(args.data, args.out, args.target, dtype=args.dtype, impute=args.impute,
                       categorical=args.categorical)
    target_path, meta_path = companion_paths(args.out)
    print(f"{meta['rows']:,} rows x {len(meta['features']['feature_names'])} features written "
          f"to {args.out} ({meta['dtype']}); target in {target_path}, encoding in {meta_path}",
          file=out)
    return meta
