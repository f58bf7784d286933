from confkit.loader import load


def test_load_file(tmp_path):
    path = tmp_path / "app.conf"
    path.write_text('[server]\nport = 8080\nname = "web"  # public name\n')
    assert load(path, environ={}).data == {"server": {"port": 8080, "name": "web"}}


def test_env_overrides(tmp_path):
    path = tmp_path / "app.conf"
    path.write_text("[server]\nport = 8080\n")
    doc = load(path, environ={"CONFKIT__SERVER__PORT": "9090", "CONFKIT__SERVER__MODE": "dev", "HOME": "/x"})
    assert doc.data == {"server": {"port": 9090, "mode": "dev"}}
