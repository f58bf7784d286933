set -e
cd /app/wordfreq
make -s -B wordfreq
check() { test "$(printf "$1" | ./wordfreq)" = "$2" || { echo "input $1: got $(printf "$1" | ./wordfreq), want $2"; exit 1; }; }
check 'one two three\n' 3
check '  leading   spaces\tand\ttabs\n\n' 4
check 'no newline at end' 4
check '' 0
check '   \n\t \n' 0
check 'a\nb\nc' 3
