"""The one place that talks to Slack. Nothing else imports slack_sdk's clients.

Every failure becomes a ``SlackError`` that says three things the caller
needs: whether trying again can help (``permanent``), whether the message
may have been posted anyway (``maybe_posted``), and, for people, what to do.

* Rate limits (429) are retried here, honouring Retry-After, by a subclass of
  slack-sdk's RateLimitErrorRetryHandler whose sleep can be replaced in tests.
* slack-sdk would also retry dropped connections by default; that is switched
  off: a connection dropped after the request went out may have posted the
  message, and posting again would say it twice. The caller checks the
  channel instead (``find_posted``, with the slot key in message metadata).
"""

from __future__ import annotations

import http.client
import logging
import re
import socket
import time
import urllib.error
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.webhook import WebhookClient

from app.config import Settings
from app.i18n import N_
from app.slack.messages import template

log = logging.getLogger(__name__)

METADATA_EVENT = "launch_tally_digest"
CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{6,}$")
SLACK_CODE = re.compile(r"[a-z0-9_]+")  # as Slack's error codes are written: invalid_auth
NOT_JSON = "Received a response in a non-JSON format: "  # how slack-sdk gives a body that is not Slack's
MAX_SHOWN = 80  # characters of an answer's body in a message
MAX_RATE_LIMIT_WAIT = 60  # seconds; longer waits go back to the scheduler instead of blocking it
TIMEOUT = 15
MAX_HISTORY_PAGES = 10  # of 200 messages: a channel's history since a digest was claimed, looked through

# What a lead reads on the Digests and Alerts pages (app/slack/messages.py translates it there).
# Said of a run that waits to be tried again, and inside "Gave up after …": none says it will be tried.
COULD_NOT_CONNECT = template(N_("Could not connect to Slack ({exc})."))
CONNECTION_DROPPED = template(
    N_("The connection to Slack dropped ({exc}) after the digest was sent, so it may or may not be in {channel}.")
)
SERVER_ERROR = template(N_("Slack answered {status} ({code})."))
SLACK_ANSWERED = template(N_("Slack answered '{code}'."))
NOT_SLACK = template(
    N_("The address in {setting} answered {status} ({body}) without a Slack error: check that setting.")
)
CANNOT_LOOK_UP = template(
    N_(
        "Cannot look up {channel} to see whether the digest is already there: give the launch the channel's ID "
        "(such as C0123ABCD) instead of its name, or add the channels:read and groups:read scopes to the Slack app."
    )
)
LOOK_UP_UNREACHABLE = template(N_("Could not reach Slack to look up {channel} ({exc})."))
CANNOT_CHECK = template(
    N_(
        "Cannot check {channel} to see whether the digest is already there: add the channels:history (and "
        "groups:history for private channels) scope to the Slack app."
    )
)
CHECK_UNREACHABLE = template(N_("Could not reach Slack to check {channel} ({exc})."))
HISTORY_TOO_LONG = template(
    N_(
        "Could not check {channel} for the digest: more than {n} messages since it was claimed. Look in the "
        "channel, and send it by hand if it is not there."
    )
)
WEBHOOK_CANNOT_CHECK = template(
    N_(
        "The connection dropped after the digest was sent, and a webhook cannot read the channel to check: look "
        "in Slack, and send it again from the Digests page only if it is not there."
    )
)

# slack-sdk or urllib would not even make the request from the setting (a typographic quote, a newline,
# no https://): the same every time, and nothing reached Slack. The exception's class only: its text
# may hold the token or the webhook's URL.
BOT_SETTINGS = template(
    N_(
        "Nothing was sent: a request to Slack cannot be made with this SLACK_BOT_TOKEN or SLACK_API_URL "
        "({exc}). Set the token as the Slack app shows it (xoxb-…), without quotes or spaces, and restart "
        "Launch Tally."
    )
)
WEBHOOK_SETTINGS = template(
    N_(
        "Nothing was sent: a request to Slack cannot be made with this SLACK_WEBHOOK_URL ({exc}). Set it to "
        "the webhook's URL as Slack shows it (https://hooks.slack.com/services/…), without quotes or spaces, "
        "and restart Launch Tally."
    )
)

WEBHOOKS_CHANNEL = template(N_("the webhook's channel"))  # a webhook names none: the channel it was made for

# Errors no retry can fix, with what a person should do about each.
_PERMANENT = {
    "invalid_auth": N_("Slack refused the bot token: check SLACK_BOT_TOKEN (it should start with xoxb-)."),
    "not_authed": N_("No Slack token was sent: set SLACK_BOT_TOKEN."),
    "token_revoked": N_("The Slack bot token was revoked: reinstall the Slack app and set the new SLACK_BOT_TOKEN."),
    "token_expired": N_("The Slack bot token expired: reinstall the Slack app and set the new SLACK_BOT_TOKEN."),
    "account_inactive": N_("The Slack app's bot user was deactivated: reinstall the Slack app."),
    "missing_scope": N_("The Slack app lacks a permission: add the chat:write scope and reinstall it."),
    "channel_not_found": N_(
        "Slack does not know the channel {channel}: check the launch's Slack channel, and invite "
        "the app to it if it is private."
    ),
    "not_in_channel": N_("The app is not in {channel}: invite it there (/invite @Launch Tally in the channel)."),
    "is_archived": N_("The channel {channel} is archived: choose another channel for the launch."),
    "channel_is_archived": N_("The channel {channel} is archived: choose another channel for the launch."),
    "restricted_action": N_("The workspace does not allow the app to post in {channel}: ask a Slack admin."),
    "msg_too_long": N_("The digest was too long for Slack; this is a bug in Launch Tally, please report it."),
    "msg_blocks_too_long": N_("The digest was too long for Slack; this is a bug in Launch Tally, please report it."),
    "invalid_blocks": N_("Slack rejected the digest's layout; this is a bug in Launch Tally, please report it."),
    "invalid_payload": N_("Slack could not read the message; this is a bug in Launch Tally, please report it."),
    "no_active_hooks": N_(
        "The Slack webhook is disabled: turn it on again in the Slack app's settings, or create a new "
        "one and set SLACK_WEBHOOK_URL."
    ),
    "no_service": N_("The Slack webhook was removed: create a new incoming webhook and set SLACK_WEBHOOK_URL."),
    "no_team": N_("The Slack workspace of the webhook is gone: create a new webhook and set SLACK_WEBHOOK_URL."),
    "invalid_token": N_("The Slack webhook URL is not valid any more: create a new one and set SLACK_WEBHOOK_URL."),
    "action_prohibited": N_("A Slack admin has blocked the webhook from posting: ask them, or use a bot token."),
    "team_disabled": N_("The Slack workspace is disabled."),
    "posting_to_general_channel_denied": N_("Only admins may post in {channel}: choose another channel."),
}
PERMANENT = {code: template(text) for code, text in _PERMANENT.items()}

# A webhook posts to the channel it was made for, whatever the launch says: its advice is about the webhook.
_WEBHOOK_PERMANENT = {
    "channel_not_found": N_(
        "The webhook's channel was deleted or archived: create a new incoming webhook for an existing channel "
        "and set SLACK_WEBHOOK_URL."
    ),
    "is_archived": N_(
        "The webhook's channel is archived: unarchive it, or create a new incoming webhook for another channel "
        "and set SLACK_WEBHOOK_URL."
    ),
    "channel_is_archived": N_(
        "The webhook's channel is archived: unarchive it, or create a new incoming webhook for another channel "
        "and set SLACK_WEBHOOK_URL."
    ),
    "posting_to_general_channel_denied": N_(
        "Only admins may post in the webhook's channel: create a new incoming webhook for another channel and "
        "set SLACK_WEBHOOK_URL."
    ),
    "restricted_action": N_(
        "The workspace does not allow posting in the webhook's channel: ask a Slack admin, or create a new "
        "incoming webhook for another channel and set SLACK_WEBHOOK_URL."
    ),
}
WEBHOOK_PERMANENT = PERMANENT | {code: template(text) for code, text in _WEBHOOK_PERMANENT.items()}

# Answered with 200 and ok:false, these say Slack failed partway: the message may be stored all the
# same (Slack's docs: "some aspect of the operation may have succeeded"), so a retry looks first.
MAYBE_POSTED = frozenset({"internal_error", "fatal_error", "request_timeout"})


class SlackError(Exception):
    def __init__(
        self, message: str, *, code: str, permanent: bool, maybe_posted: bool = False, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.permanent = permanent
        self.maybe_posted = maybe_posted
        self.retry_after = retry_after


@dataclass(frozen=True)
class Posted:
    channel: str | None  # None: a webhook's, which names none (a page shows WEBHOOKS_CHANNEL, translated)
    ts: str | None


class _RateLimitRetry(RateLimitErrorRetryHandler):
    """slack-sdk's handler, honouring Retry-After exactly, with a replaceable sleep."""

    def __init__(self, *, max_retry_count: int, sleep: Callable[[float], None]) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self._sleep = sleep

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        return super()._can_retry(state=state, request=request, response=response, error=error) and (
            _retry_after(response) <= MAX_RATE_LIMIT_WAIT
        )

    def prepare_for_next_attempt(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        state.next_attempt_requested = True
        self._sleep(_retry_after(response))
        state.increment_current_attempt()


def _retry_after(response: HttpResponse | Any) -> float:
    if response is None:
        return 1.0
    for name, values in response.headers.items():
        if name.lower() == "retry-after":
            value = values[0] if isinstance(values, list) else values
            try:
                return max(0.0, float(value))
            except ValueError:
                return 1.0
    return 1.0


def _not_sent(exc: BaseException) -> bool:
    """True when the request cannot have reached Slack (nothing was sent)."""
    reason = getattr(exc, "reason", exc)
    return isinstance(reason, ConnectionRefusedError | socket.gaierror)


def _refused(exc: BaseException) -> bool:
    """True when the request was never made: slack-sdk or urllib refused the token or URL it was given."""
    if isinstance(exc, SlackRequestError | UnicodeEncodeError | http.client.InvalidURL):
        return True
    if isinstance(exc, urllib.error.URLError):
        return isinstance(exc.reason, str)  # urllib's own "unknown url type", "no host given"
    return type(exc) is ValueError  # "unknown url type", "Invalid header value"


def _transport_error(exc: BaseException, channel: str, *, settings: str) -> SlackError:
    """``settings``: the template naming the settings the sender was made from."""
    if _refused(exc):
        return SlackError(settings.format(exc=exc.__class__.__name__), code="slack_settings", permanent=True)
    if _not_sent(exc):
        return SlackError(COULD_NOT_CONNECT.format(exc=exc), code="connection_refused", permanent=False)
    return SlackError(
        CONNECTION_DROPPED.format(exc=exc.__class__.__name__, channel=channel),
        code="connection_lost",
        permanent=False,
        maybe_posted=True,
    )


def _shown(body: str) -> str:
    """An answer's body as a message can show it: an HTML page's title, else its start."""
    body = body.removeprefix(NOT_JSON)
    title = re.search(r"<title[^>]*>(.*?)</title>", body, re.IGNORECASE | re.DOTALL)
    text = " ".join((title.group(1) if title else body).split())
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 1] + "…"


def _api_error(
    code: str,
    channel: str,
    *,
    status: int | None,
    retry_after: float | None,
    setting: str,
    permanent: dict[str, str] = PERMANENT,
) -> SlackError:
    """``code``: Slack's error code, or the body of an answer that has none. ``setting``: the variable
    holding the address asked (SLACK_API_URL, SLACK_WEBHOOK_URL). ``permanent``: the advice for the
    errors no retry fixes (``WEBHOOK_PERMANENT`` for a webhook)."""
    if status is not None and 400 <= status < 500 and status != 429 and not SLACK_CODE.fullmatch(code):
        # Not Slack answering (a wrong URL, a proxy's page): the same on every try.
        return SlackError(
            NOT_SLACK.format(setting=setting, status=status, body=_shown(code) or "–"),
            code="not_slack",
            permanent=True,
        )
    code = code or f"http_{status}"
    if code in permanent:
        return SlackError(permanent[code].format(channel=channel), code=code, permanent=True)
    server_error = status is not None and status >= 500
    if server_error or code in MAYBE_POSTED:
        # It may come after the message was stored; check before posting again.
        said = (
            SERVER_ERROR.format(status=status, code=_shown(code)) if server_error else SLACK_ANSWERED.format(code=code)
        )
        return SlackError(said, code=code, permanent=False, maybe_posted=True)
    return SlackError(SLACK_ANSWERED.format(code=_shown(code)), code=code, permanent=False, retry_after=retry_after)


# ValueError: a request slack-sdk or urllib would not make (_refused), or an answer that could not be read.
TRANSPORT_ERRORS = (
    urllib.error.URLError,
    http.client.HTTPException,
    OSError,
    SlackRequestError,
    TimeoutError,
    ValueError,
)


def _read_error(exc: BaseException, channel: str, *, missing_scope: str, unreachable: str) -> SlackError:
    """A failed read (before posting again): a missing scope is for a person to fix; the rest may pass.
    ``missing_scope`` and ``unreachable``: the templates saying so, of ``channel`` and ``exc``."""
    if isinstance(exc, SlackApiError):
        code = str(exc.response.get("error", "unknown_error"))
        if code == "missing_scope":
            return SlackError(missing_scope.format(channel=channel), code=code, permanent=True)
        status = exc.response.status_code
        return _api_error(
            code,
            channel,
            status=status,
            retry_after=_retry_after(exc.response) if status == 429 else None,
            setting="SLACK_API_URL",
        )
    if _refused(exc):
        return _transport_error(exc, channel, settings=BOT_SETTINGS)
    return SlackError(
        unreachable.format(channel=channel, exc=exc.__class__.__name__),
        code="connection_lost",
        permanent=False,
        maybe_posted=True,
    )


class BotSender:
    """chat.postMessage with a bot token. Can look in the channel for a message it may have posted."""

    can_check_channel = True

    def __init__(
        self, *, token: str, base_url: str, sleep: Callable[[float], None] = time.sleep, rate_limit_retries: int = 3
    ) -> None:
        self._client = WebClient(
            token=token,
            base_url=base_url,
            timeout=TIMEOUT,
            retry_handlers=[_RateLimitRetry(max_retry_count=rate_limit_retries, sleep=sleep)],
        )
        self._ids: dict[str, str] = {}

    def post(self, *, channel: str, text: str, blocks: list[dict[str, Any]], slot_key: str) -> Posted:
        try:
            response = self._client.chat_postMessage(
                channel=channel,
                text=text,
                blocks=blocks,
                unfurl_links=False,
                unfurl_media=False,
                metadata={"event_type": METADATA_EVENT, "event_payload": {"slot_key": slot_key}},
            )
        except SlackApiError as exc:
            raise _api_error(
                str(exc.response.get("error", "unknown_error")),
                channel,
                status=exc.response.status_code,
                retry_after=_retry_after(exc.response) if exc.response.status_code == 429 else None,
                setting="SLACK_API_URL",
            ) from None
        except TRANSPORT_ERRORS as exc:
            raise _transport_error(exc, channel, settings=BOT_SETTINGS) from None
        return Posted(str(response.get("channel") or channel), response.get("ts"))

    def _channel_id(self, channel: str) -> str:
        """conversations.history wants a channel id; launches may name the channel (#launch-x)."""
        if CHANNEL_ID.match(channel):
            return channel
        name = channel.removeprefix("#")
        if name in self._ids:
            return self._ids[name]
        cursor: str | None = None
        try:
            while True:
                response = self._client.conversations_list(
                    types="public_channel,private_channel", exclude_archived=True, limit=1000, cursor=cursor
                )
                for found in response.get("channels") or []:
                    if found.get("name") == name:
                        self._ids[name] = str(found["id"])
                        return self._ids[name]
                cursor = (response.get("response_metadata") or {}).get("next_cursor") or None
                if not cursor:
                    break
        except (SlackApiError, *TRANSPORT_ERRORS) as exc:
            raise _read_error(exc, channel, missing_scope=CANNOT_LOOK_UP, unreachable=LOOK_UP_UNREACHABLE) from None
        raise SlackError(
            PERMANENT["channel_not_found"].format(channel=channel), code="channel_not_found", permanent=True
        )

    def find_posted(self, *, channel: str, slot_key: str, oldest: float) -> Posted | None:
        """A message in ``channel`` since ``oldest`` (epoch seconds) carrying ``slot_key`` in its metadata.

        Every page of the history since then (newest first, 200 a page): in a busy channel the digest
        may be more than a page back, and missing it posts it twice. At most ``MAX_HISTORY_PAGES``."""
        channel_id = self._channel_id(channel)
        cursor: str | None = None
        for _ in range(MAX_HISTORY_PAGES):
            try:
                response = self._client.conversations_history(
                    channel=channel_id,
                    oldest=f"{oldest:.6f}",
                    include_all_metadata=True,
                    limit=200,
                    cursor=cursor,
                )
            except (SlackApiError, *TRANSPORT_ERRORS) as exc:
                raise _read_error(exc, channel, missing_scope=CANNOT_CHECK, unreachable=CHECK_UNREACHABLE) from None
            for message in response.get("messages") or []:
                metadata = message.get("metadata") or {}
                if (
                    metadata.get("event_type") == METADATA_EVENT
                    and (metadata.get("event_payload") or {}).get("slot_key") == slot_key
                ):
                    return Posted(channel_id, message.get("ts"))
            cursor = (response.get("response_metadata") or {}).get("next_cursor") or None
            if not response.get("has_more") or not cursor:
                return None
        raise SlackError(
            HISTORY_TOO_LONG.format(channel=channel, n=MAX_HISTORY_PAGES * 200),
            code="history_too_long",
            permanent=False,
        )


class WebhookSender:
    """An incoming webhook: posts to the channel the webhook was made for, and cannot read it."""

    can_check_channel = False

    def __init__(self, *, url: str, sleep: Callable[[float], None] = time.sleep, rate_limit_retries: int = 3) -> None:
        self._client = WebhookClient(
            url=url,
            timeout=TIMEOUT,
            retry_handlers=[_RateLimitRetry(max_retry_count=rate_limit_retries, sleep=sleep)],
        )

    def post(self, *, channel: str, text: str, blocks: list[dict[str, Any]], slot_key: str) -> Posted:
        where = WEBHOOKS_CHANNEL
        try:
            response = self._client.send(text=text, blocks=blocks, unfurl_links=False, unfurl_media=False)
        except TRANSPORT_ERRORS as exc:
            raise _transport_error(exc, where, settings=WEBHOOK_SETTINGS) from None
        if response.status_code == 200:
            return Posted(None, None)
        raise _api_error(
            (response.body or "").strip(),
            where,
            status=response.status_code,
            retry_after=_retry_after(response) if response.status_code == 429 else None,
            setting="SLACK_WEBHOOK_URL",
            permanent=WEBHOOK_PERMANENT,
        )

    def find_posted(self, *, channel: str, slot_key: str, oldest: float) -> Posted | None:
        raise SlackError(
            WEBHOOK_CANNOT_CHECK,
            code="unknown_outcome",
            permanent=True,
        )


Sender = BotSender | WebhookSender


def sender_from(
    settings: Settings, *, sleep: Callable[[float], None] = time.sleep, rate_limit_retries: int = 3
) -> Sender | None:
    """The configured way to post, or None when Slack is not configured (dry runs). ``rate_limit_retries``:
    how often slack-sdk itself waits out a rate limit (up to a minute each) before the error is ours."""
    if settings.slack_bot_token is not None:
        return BotSender(
            token=settings.slack_bot_token.get_secret_value(),
            base_url=settings.slack_api_url,
            sleep=sleep,
            rate_limit_retries=rate_limit_retries,
        )
    if settings.slack_webhook_url is not None:
        return WebhookSender(
            url=settings.slack_webhook_url.get_secret_value(), sleep=sleep, rate_limit_retries=rate_limit_retries
        )
    return None


__all__ = ["PERMANENT", "BotSender", "Posted", "Sender", "SlackError", "WebhookSender", "sender_from"]
