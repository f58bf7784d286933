#!/bin/bash
set -e
cat > /app/crontab <<'EOF'
30 2 * * * /app/jobs/backup.sh
*/15 * * * 1-5 /app/jobs/rotate.sh
0 9 1 * * /app/jobs/report.sh
EOF
