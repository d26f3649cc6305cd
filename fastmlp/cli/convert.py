"""``fastmlp convert``: the command that streams a CSV file into a memory-mappable ``.npy``.

The conversion itself is :func:`fastmlp.data.convert.convert_csv`.
"""

import sys

from ..data.convert import convert_csv
from ..data.encoding import IMPUTE_METHODS
from ..data.tables import companion_paths
from .settings import column_names

__all__ = ["add_convert_command", "convert_command"]


def add_convert_command(sub):
    """Add the ``convert`` sub-command to ``sub`` (argparse sub-parsers)."""
    convert = sub.add_parser(
        "convert", help="stream a CSV file into a memory-mappable .npy file",
        description="Convert a CSV file (header row) into OUT.npy, the encoded features, "
                    "plus OUT.target.npy and OUT.meta.json, reading it row by row (twice): "
                    "for files larger than memory. fastmlp train, predict and evaluate "
                    "memory-map OUT.npy; a model trained on it encodes new CSV rows the "
                    "same way.")
    convert.add_argument("csv", help="CSV file with a header row")
    convert.add_argument("out", help="output .npy file")
    convert.add_argument("--target", required=True, help="target column")
    convert.add_argument("--dtype", choices=("float32", "float64"), default="float32",
                         help="dtype of the features (default float32)")
    convert.add_argument("--impute", choices=IMPUTE_METHODS, default=None,
                         help="fill missing feature values with the mean or median of all "
                              "rows (default: refuse them)")
    convert.add_argument("--categorical", type=column_names, default=[], metavar="COLUMNS",
                         help="comma-separated feature columns to one-hot encode even if "
                              "numeric")


def convert_command(args, out=None):
    """Run ``fastmlp convert``; returns the written metadata."""
    out = sys.stdout if out is None else out
    meta = convert_csv(args.csv, args.out, args.target, dtype=args.dtype, impute=args.impute,
                       categorical=args.categorical)
    target_path, meta_path = companion_paths(args.out)
    print(f"{meta['rows']:,} rows x {len(meta['features']['feature_names'])} features written "
          f"to {args.out} ({meta['dtype']}); target in {target_path}, encoding in {meta_path}",
          file=out)
    return meta
