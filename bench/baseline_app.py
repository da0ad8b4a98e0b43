"""BASELINE for the launch benchmark, not part of the product: an LTI 1.3 launch done with plain pylti1p3
the way its Flask example does (github.com/dmitry-viskov/pylti1.3-flask-example).

- the tool configuration is a JSON file read by ToolConfJsonFile in every request, as in the example;
- FlaskOIDCLogin / FlaskMessageLaunch with their default storage: state, nonce and launch data go into
  Flask's (signed cookie) session; no cache is configured;
- without a cache pylti1p3 fetches the platform's JWKS from its URL at every launch;
- the first page reads the launch back with FlaskMessageLaunch.from_cache(launch_id), as the example's
  later requests do.

Same URLs as the tool (/lti/login, /lti/launch, /start) so the same client drives both.
Run: gunicorn --pythonpath bench "baseline_app:create_app('/path/to/config.json', 'secret')"
"""

from __future__ import annotations

from flask import Flask, redirect, render_template_string, request, url_for
from pylti1p3.contrib.flask import FlaskMessageLaunch, FlaskOIDCLogin, FlaskRequest
from pylti1p3.exception import LtiException
from pylti1p3.tool_config import ToolConfJsonFile

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Welcome</title></head>
<body><main><h1>Welcome, {{ name }}</h1>
<dl><dt>Course</dt><dd>{{ course }}</dd><dt>Activity</dt><dd>{{ activity }}</dd>
<dt>Your roles</dt><dd>{{ roles | join(", ") }}</dd></dl></main></body></html>"""


def create_app(config_path: str, secret_key: str) -> Flask:
    app = Flask(__name__)
    app.secret_key = secret_key

    @app.route("/lti/login", methods=["GET", "POST"])
    def login():  # noqa: ANN202
        tool_conf = ToolConfJsonFile(config_path)
        flask_request = FlaskRequest()
        target_link_uri = flask_request.get_param("target_link_uri")
        if not target_link_uri:
            return "Missing target_link_uri", 400
        return FlaskOIDCLogin(flask_request, tool_conf).redirect(target_link_uri)

    @app.route("/lti/launch", methods=["POST"])
    def launch():  # noqa: ANN202
        tool_conf = ToolConfJsonFile(config_path)
        message_launch = FlaskMessageLaunch(FlaskRequest(), tool_conf)
        try:
            message_launch.get_launch_data()  # validates, then saves the launch data in the session
        except LtiException as exc:
            return f"Launch refused: {exc}", 401
        return redirect(url_for("start", launch_id=message_launch.get_launch_id()), code=303)

    @app.route("/start")
    def start():  # noqa: ANN202
        tool_conf = ToolConfJsonFile(config_path)
        try:
            message_launch = FlaskMessageLaunch.from_cache(request.args.get("launch_id", ""), FlaskRequest(), tool_conf)
        except LtiException:
            return "Please launch the tool from your course", 401
        data = message_launch.get_launch_data()
        claim = "https://purl.imsglobal.org/spec/lti/claim/"
        return render_template_string(
            PAGE,
            name=data.get("name", ""),
            course=data.get(claim + "context", {}).get("title", ""),
            activity=data.get(claim + "resource_link", {}).get("title", ""),
            roles=data.get(claim + "roles", []),
        )

    return app
