"""Where the CLI keeps who it is logged in as: one JSON file of named profiles.

The file holds tokens or an API key, so it is created with mode 0600 inside a 0700
directory, and rewritten through a temporary file so a crash never leaves half a file.
The directory is the platform's user config dir (XDG on Linux), or QUERYBASE_CONFIG_DIR.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from platformdirs import user_config_dir

CONFIG_DIR_ENV = "QUERYBASE_CONFIG_DIR"
PROFILE_ENV = "QUERYBASE_PROFILE"
DEFAULT_PROFILE = "default"
FILE_NAME = "profiles.json"


@dataclass
class Profile:
    url: str
    username: str = ""
    access: str = ""
    refresh: str = ""
    api_key: str = ""


def config_dir() -> Path:
    return Path(os.environ.get(CONFIG_DIR_ENV) or user_config_dir("querybase"))


def config_file() -> Path:
    return config_dir() / FILE_NAME


def load_profiles() -> dict[str, Profile]:
    path = config_file()
    if not path.exists():
        return {}
    try:
        stored = json.loads(path.read_text())
    except ValueError:
        return {}
    known = set(Profile.__dataclass_fields__)
    return {
        name: Profile(**{key: value for key, value in fields.items() if key in known})
        for name, fields in stored.get("profiles", {}).items()
        if isinstance(fields, dict) and fields.get("url")
    }


def load_profile(name: str) -> Profile | None:
    return load_profiles().get(name)


def save_profile(name: str, profile: Profile) -> Path:
    profiles = load_profiles()
    profiles[name] = profile
    return _write(profiles)


def delete_profile(name: str) -> bool:
    profiles = load_profiles()
    if profiles.pop(name, None) is None:
        return False
    _write(profiles)
    return True


def _write(profiles: dict[str, Profile]) -> Path:
    directory = config_dir()
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = directory / FILE_NAME
    temporary = directory / f".{FILE_NAME}.{os.getpid()}.tmp"
    body = json.dumps({"profiles": {name: asdict(profile) for name, profile in profiles.items()}}, indent=2)
    # O_EXCL with 0600 from the first byte: the secret is never readable by others,
    # not even between open and chmod.
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w") as output:
            output.write(body + "\n")
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    os.chmod(path, 0o600)
    return path
