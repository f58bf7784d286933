"""python -m timesheet report FILE --from DATE --to DATE | invoice YYYY-MM --rate N"""

import argparse
import datetime as dt
from pathlib import Path

from timesheet.billing import invoice_amount
from timesheet.entries import read_entries
from timesheet.report import render_report


def main(argv=None):
    parser = argparse.ArgumentParser(prog="timesheet")
    commands = parser.add_subparsers(dest="command", required=True)
    report = commands.add_parser("report")
    report.add_argument("csv")
    report.add_argument("--from", dest="first", type=dt.date.fromisoformat, required=True)
    report.add_argument("--to", dest="last", type=dt.date.fromisoformat, required=True)
    invoice = commands.add_parser("invoice")
    invoice.add_argument("month")
    invoice.add_argument("--rate", type=float, required=True)
    args = parser.parse_args(argv)
    if args.command == "report":
        print(render_report(read_entries(Path(args.csv).read_text()), args.first, args.last))
    else:
        year, month = map(int, args.month.split("-"))
        print(f"{invoice_amount(year, month, args.rate):.2f}")


if __name__ == "__main__":
    main()
