#!/bin/bash
# Relative paths, as published reference solutions write them: they run in the image's working directory.
cat > about.html <<'HTML'
<html><head><title>About</title></head><body><h1>About me</h1></body></html>
HTML
