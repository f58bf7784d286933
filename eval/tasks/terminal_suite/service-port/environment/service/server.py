"""A tiny status service: GET /status returns the file named by [status] file in service.ini."""
import configparser
import http.server
import sys

config = configparser.ConfigParser()
config.read("/app/service/service.ini")
host = config.get("server", "host")
port = config.getint("server", "port")
status_file = config.get("status", "file")


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path != "/status":
            self.send_error(404)
            return
        try:
            body = open(status_file, "rb").read()
        except OSError:
            self.send_error(500, "status file unreadable")
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


print(f"serving {status_file} on {host}:{port}", file=sys.stderr, flush=True)
http.server.HTTPServer((host, port), Handler).serve_forever()
