"""python -m thermo VALUE FROM TO"""

import sys

from thermo.convert import convert
from thermo.scales import scale


def main(argv=None):
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 3:
        print("usage: python -m thermo VALUE FROM TO", file=sys.stderr)
        return 2
    value, source, target = float(args[0]), args[1], args[2]
    print(f"{convert(value, source, target):.2f} {scale(target).symbol}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
