"""Data as users have it: files read into tables, encoded, split, converted, read in place.

One reader for every file type and command (:mod:`~fastmlp.data.tables`;
svmlight files in :mod:`~fastmlp.data.svmlight`), the encoding of text
columns and labels, the splits, the conversion of large
files, rows of a large input read where they are, and the order of an
epoch's rows.  Imports only :mod:`fastmlp._utils`.
"""
