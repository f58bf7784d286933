import sys, urllib.request
expected = open("/srv/status/current.txt", "rb").read()
try:
    body = urllib.request.urlopen("http://127.0.0.1:8080/status", timeout=5).read()
except Exception as e:
    sys.exit(f"nothing answers on 8080: {e}")
sys.exit(0 if body == expected else f"wrong body: {body!r}")
