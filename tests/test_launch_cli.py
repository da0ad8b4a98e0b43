"""The registration, deployment and keys commands, as an admin would type them."""

from __future__ import annotations

from sqlalchemy import select

from lti_tool.launch.models import Registration
from lti_tool.store.db import db

ADD = [
    "registration",
    "add",
    "--issuer",
    "https://moodle.example",
    "--client-id",
    "abc",
    "--login-url",
    "https://moodle.example/mod/lti/auth.php",
    "--token-url",
    "https://moodle.example/mod/lti/token.php",
    "--jwks-url",
    "https://moodle.example/mod/lti/certs.php",
    "--deployment",
    "1",
    "--name",
    "Acme Moodle",
]


def run(app, *args):
    return app.test_cli_runner().invoke(args=list(args))


def test_add_list_and_remove_registration(app):
    result = run(app, *ADD)
    assert result.exit_code == 0, result.output
    assert "Registered Acme Moodle" in result.output
    listed = run(app, "registration", "list")
    assert "https://moodle.example" in listed.output and "deployment '1'" in listed.output
    assert (
        run(
            app, "deployment", "add", "--issuer", "https://moodle.example", "--client-id", "abc", "--deployment-id", "2"
        ).exit_code
        == 0
    )
    deps = run(app, "deployment", "list", "--issuer", "https://moodle.example", "--client-id", "abc")
    rows = [line.split("\t")[:2] for line in deps.output.strip().splitlines()]
    assert rows == [["1", "active"], ["2", "active"]]
    assert (
        run(
            app, "registration", "remove", "--issuer", "https://moodle.example", "--client-id", "abc", "--yes"
        ).exit_code
        == 0
    )
    assert db.session.scalar(select(Registration).where(Registration.client_id == "abc")) is None


def test_several_client_ids_per_issuer(app):
    assert run(app, *ADD).exit_code == 0
    second = [a if a != "abc" else "block-2" for a in ADD]
    assert run(app, *second).exit_code == 0
    rows = db.session.scalars(select(Registration).where(Registration.issuer == "https://moodle.example"))
    assert len(list(rows)) == 2


def test_duplicate_registration_is_a_clear_error(app):
    run(app, *ADD)
    result = run(app, *ADD)
    assert result.exit_code != 0 and "already exists" in result.output
    assert "Traceback" not in result.output


def test_bad_url_is_refused(app):
    bad = [a if a != "https://moodle.example/mod/lti/certs.php" else "certs.php" for a in ADD]
    result = run(app, *bad)
    assert result.exit_code != 0 and "not an http(s) URL" in result.output


def test_unknown_registration_errors(app):
    result = run(app, "registration", "deactivate", "--issuer", "https://x", "--client-id", "y")
    assert result.exit_code != 0 and "No registration" in result.output


def test_deactivate_and_activate(app):
    run(app, *ADD)
    assert (
        "inactive"
        in run(app, "registration", "deactivate", "--issuer", "https://moodle.example", "--client-id", "abc").output
    )
    assert not db.session.scalar(select(Registration).where(Registration.client_id == "abc")).active
    run(app, "registration", "activate", "--issuer", "https://moodle.example", "--client-id", "abc")
    db.session.expire_all()
    assert db.session.scalar(select(Registration).where(Registration.client_id == "abc")).active


def test_keys_commands(sqlite_app, tmp_path):
    sqlite_app.config["KEYS_DIR"] = str(tmp_path / "own-keys")
    first = run(sqlite_app, "keys", "list")
    assert first.exit_code == 0
    rotated = run(sqlite_app, "keys", "rotate")
    assert "New signing key" in rotated.output
    lines = run(sqlite_app, "keys", "list").output.strip().splitlines()
    assert len(lines) >= 1 and lines[-1].endswith("signing")
    new_kid = lines[-1].split()[0]
    # '--' because a key id is a base64url thumbprint and one in 64 starts with '-' (it once read as an option).
    refused = run(sqlite_app, "keys", "retire", "--", new_kid)
    assert refused.exit_code != 0 and "Rotate first" in refused.output
