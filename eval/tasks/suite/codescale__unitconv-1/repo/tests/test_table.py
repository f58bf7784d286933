import csv
from pathlib import Path

from unitconv._table import UNITS


def test_generated_table_matches_csv():
    rows = list(csv.DictReader((Path(__file__).parent.parent / "unitconv/data/units.csv").open()))
    assert sorted(UNITS) == sorted(row["symbol"] for row in rows)
