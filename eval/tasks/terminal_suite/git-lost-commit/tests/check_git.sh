set -e
cd /app/parser
test "$(git log --format=%s main)" = "$(printf 'Add tokenize\nAdd README\nAdd parse')"
git show main:parser.py | grep -q "def tokenize"
test -z "$(git status --porcelain)"
test "$(git rev-parse --abbrev-ref HEAD)" = main
