"""python -m invoicer FILE.csv [--vat N]"""

import argparse
from pathlib import Path

from invoicer.importer import invoice_from_csv
from invoicer.render import render


def main(argv=None):
    parser = argparse.ArgumentParser(prog="invoicer")
    parser.add_argument("csv")
    parser.add_argument("--vat", type=int, default=20)
    args = parser.parse_args(argv)
    print(render(invoice_from_csv(Path(args.csv).read_text(), args.vat)))


if __name__ == "__main__":
    main()
