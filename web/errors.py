"""Error answers: JSON under /api, a page elsewhere; always say what is wrong."""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException


def _api() -> bool:
    return request.path.startswith("/api/")


def init_app(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def _csrf(exc: CSRFError) -> Any:
        msg = f"CSRF check failed: {exc.description} Reload the page; API clients send the token from GET /api/csrf in the X-CSRFToken header."
        if _api():
            return jsonify(error="csrf", message=msg), 400
        return render_template("error.html", code=400, message=msg), 400

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Any:
        code = exc.code or 500
        if _api():
            resp = jsonify(error=exc.name.lower().replace(" ", "_"), message=exc.description)
            resp.status_code = code
            if code == 405 and exc.get_response().headers.get("Allow"):
                resp.headers["Allow"] = exc.get_response().headers["Allow"]
            return resp
        return render_template("error.html", code=code, message=exc.description), code

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Any:
        if isinstance(exc, HTTPException):
            return _http(exc)
        app.logger.exception("unhandled error on %s %s", request.method, request.path)
        msg = "internal error; the details are in the server log"
        if _api():
            return jsonify(error="internal_error", message=msg), 500
        return render_template("error.html", code=500, message=msg), 500
