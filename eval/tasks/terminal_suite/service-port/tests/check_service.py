"""Starts the service as the task says it is started, then asks it for the status."""
import subprocess, sys, time, urllib.request

expected = open("/srv/status/current.txt", "rb").read()
server = subprocess.Popen([sys.executable, "/app/service/server.py"], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL)
try:
    for _ in range(50):
        try:
            body = urllib.request.urlopen("http://127.0.0.1:8080/status", timeout=5).read()
            break
        except Exception as e:
            problem = e
            time.sleep(0.1)
    else:
        sys.exit(f"nothing answers on 8080: {problem}")
finally:
    server.kill()
sys.exit(0 if body == expected else f"wrong body: {body!r}")
