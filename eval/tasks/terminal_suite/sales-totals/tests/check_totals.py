import collections, glob, sys
totals = collections.Counter()
for path in glob.glob("/app/data/sales-*.csv"):
    for line in open(path).read().splitlines()[1:]:
        region, _, amount = line.split(",")
        totals[region] += int(amount)
expected = "".join(f"{r} {t}\n" for r, t in sorted(totals.items(), key=lambda kv: (-kv[1], kv[0])))
try:
    got = open("/app/totals.txt").read()
except OSError as e:
    sys.exit(f"no totals: {e}")
print("got:\n" + got)
sys.exit(0 if got == expected else "totals differ from the expected:\n" + expected)
