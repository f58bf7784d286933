#!/bin/bash
printf '%s\n' "$NOTES_GREETING" > greeting.txt
