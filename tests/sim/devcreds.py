"""The development credentials of the local stack and the simulator, read from
scripts/dev-credentials.env (their one home): DEV maps each NAME to its value."""
import pathlib

FILE = pathlib.Path(__file__).resolve().parents[2] / "scripts" / "dev-credentials.env"


def load(path=FILE):
    """NAME=value lines of path as a dict; blank lines and # comments are skipped."""
    creds = {}
    for line in pathlib.Path(path).read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            name, value = line.split("=", 1)
            creds[name] = value
    return creds


DEV = load()
