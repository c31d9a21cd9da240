"""Session timers (RFC 4028): keep-alive re-INVITE/UPDATE for dialogs.

Negotiation: the UAC offers ``Supported: timer``, ``Session-Expires`` (with an optional
``refresher``) and ``Min-SE``; a UAS whose minimum is larger rejects with 422 and its
``Min-SE`` (and the UAC retries with that value); otherwise the 2xx carries the chosen
interval and refresher (``Require: timer`` when the UAC supports the extension).

:class:`SessionRefresher` then runs the timer of one dialog: the refresher sends a
refresh at half the interval (10.1); the other side, when no refresh arrived, sends BYE
``min(32, interval/3)`` seconds before the session expires (10). A failed refresh
(408, 481, or another final response than 2xx and 491) ends the session with BYE.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from moot.sip.headers import split_params
from moot.sip.message import Request, Response
from moot.sip.transaction import Scheduler, TimerHandle, call_back

if TYPE_CHECKING:
    from moot.sip.dialog import Dialog

logger = logging.getLogger("moot.sip.session_timer")

#: RFC 4028 4: the smallest session interval anyone may ask for.
ABSOLUTE_MIN_SE = 90
DEFAULT_SESSION_EXPIRES = 1800


class SessionTimerError(ValueError):
    """A Session-Expires or Min-SE header that cannot be parsed."""


@dataclass(frozen=True)
class SessionTimer:
    """The negotiated timer of a dialog: interval (seconds) and who refreshes.

    ``refresher`` is as written in the Session-Expires of the transaction that set it
    (RFC 4028: "uac"/"uas" name the roles in *that* transaction); ``we_refresh`` is the
    answer for us.
    """

    interval: int
    refresher: str  # "uac" or "uas"
    we_refresh: bool

    def header(self) -> str:
        return f"{self.interval};refresher={self.refresher}"


@dataclass(frozen=True)
class UasDecision:
    """What a UAS answers: ``reject`` (a 422 with ``headers``) or the headers of the 2xx
    and the timer (None when no session timer applies)."""

    reject: bool
    headers: list[tuple[str, str]]
    timer: SessionTimer | None


def parse_session_expires(value: str) -> tuple[int, str | None]:
    """``1800;refresher=uac`` -> (1800, "uac")."""
    number, params = split_params(value)
    if not number.isascii() or not number.isdigit() or len(number) > 10:
        raise SessionTimerError(f"Session-Expires {value[:40]!r} is not a number of seconds")
    refresher = params.get("refresher")
    if refresher is not None:
        refresher = refresher.lower()
        if refresher not in ("uac", "uas"):
            raise SessionTimerError(f"refresher {refresher[:10]!r} is not uac or uas")
    return int(number), refresher


def parse_min_se(value: str | None) -> int | None:
    if value is None:
        return None
    number, _ = split_params(value)
    if not number.isascii() or not number.isdigit() or len(number) > 10:
        raise SessionTimerError(f"Min-SE {value[:40]!r} is not a number of seconds")
    return int(number)


def supports_timer(message: Request | Response) -> bool:
    tags = message.headers.get_all("Supported") + message.headers.get_all("Require")
    return any(tag.lower() == "timer" for tag in tags)


def uac_headers(
    expires: int = DEFAULT_SESSION_EXPIRES,
    min_se: int = ABSOLUTE_MIN_SE,
    refresher: str | None = None,
) -> list[tuple[str, str]]:
    """Headers a UAC adds to INVITE (7.1). ``Supported: timer`` goes with them."""
    value = str(expires) + (f";refresher={refresher}" if refresher else "")
    return [("Session-Expires", value), ("Min-SE", str(min_se))]


def negotiate_uas(
    request: Request,
    *,
    expires: int = DEFAULT_SESSION_EXPIRES,
    min_se: int = ABSOLUTE_MIN_SE,
    refresher: str = "uas",
    use_timer: bool = True,
) -> UasDecision:
    """Section 9: the UAS's answer to an INVITE or UPDATE.

    ``expires`` is the interval we would like (when the request has none, or a longer
    one), ``min_se`` our minimum, ``refresher`` who refreshes when the request leaves it
    to us and the UAC supports timers.
    """
    min_se = max(min_se, ABSOLUTE_MIN_SE)
    uac_supports = supports_timer(request)
    value = request.headers.get("Session-Expires")
    try:
        requested = parse_session_expires(value) if value is not None else None
        their_min = parse_min_se(request.headers.get("Min-SE")) or ABSOLUTE_MIN_SE
    except SessionTimerError:
        raise
    floor = max(min_se, their_min)
    if requested is None:
        if not use_timer:
            return UasDecision(False, [], None)
        interval = max(expires, floor)
        chosen = refresher if uac_supports else "uas"
    else:
        interval, asked = requested
        if interval < min_se:
            if uac_supports:
                return UasDecision(True, [("Min-SE", str(min_se))], None)
            interval = min_se  # 9: raise it ourselves for a UAC that cannot retry
        interval = max(min(interval, max(expires, floor)), floor)
        chosen = asked or (refresher if uac_supports else "uas")
    if chosen == "uac" and not uac_supports:
        chosen = "uas"
    timer = SessionTimer(interval, chosen, we_refresh=chosen == "uas")
    headers = [("Session-Expires", timer.header())]
    if uac_supports:
        headers.append(("Require", "timer"))
    return UasDecision(False, headers, timer)


def negotiate_uac(response: Response) -> SessionTimer | None:
    """Section 7.2: the timer a 2xx sets (None when it has no Session-Expires)."""
    value = response.headers.get("Session-Expires")
    if value is None:
        return None
    interval, refresher = parse_session_expires(value)
    refresher = refresher or "uac"
    return SessionTimer(interval, refresher, we_refresh=refresher == "uac")


def retry_interval(response: Response) -> int | None:
    """For a 422: the Min-SE to use as Session-Expires (and Min-SE) of the retry (7.4)."""
    if response.status != 422:
        return None
    return parse_min_se(response.headers.get("Min-SE"))


BodyFactory = Callable[[], tuple[bytes, str | None]]


class SessionRefresher:
    """Runs the session timer of one dialog (section 10).

    ``method`` is "UPDATE" or "INVITE" (re-INVITE; ``body`` gives its SDP, the same
    session description again). When the peer rejects UPDATE with 405 or 501 the
    refresher falls back to re-INVITE. ``on_expired`` is called after the BYE when the
    session ends because of the timer.
    """

    def __init__(
        self,
        dialog: Dialog,
        timer: SessionTimer,
        *,
        method: str = "UPDATE",
        body: BodyFactory | None = None,
        on_expired: Callable[[], object] | None = None,
        scheduler: Scheduler | None = None,
    ) -> None:
        self.dialog = dialog
        self.timer = timer
        self.method = method.upper()
        self.body = body
        self.on_expired = on_expired
        self.refreshes = 0
        self.expired = False
        self._sched: Scheduler = scheduler or asyncio.get_running_loop()
        self._handle: TimerHandle | None = None
        self._task: asyncio.Task[Any] | None = None

    def start(self) -> None:
        self._schedule()

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        if self._task is not None and not self._task.done():
            self._task.cancel()

    def refreshed(self, timer: SessionTimer | None = None) -> None:
        """A refresh happened (the peer's re-INVITE/UPDATE was answered 2xx): restart."""
        if timer is not None:
            self.timer = timer
        self._schedule()

    def _schedule(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
        interval = self.timer.interval
        if self.timer.we_refresh:
            self._handle = self._sched.call_later(interval / 2, self._fire_refresh)
        else:
            self._handle = self._sched.call_later(interval - min(32, interval / 3), self._fire_expiry)

    def _fire_refresh(self) -> None:
        self._handle = None
        if self.dialog.state == "terminated":
            return
        self._task = asyncio.ensure_future(self._refresh())

    def _fire_expiry(self) -> None:
        self._handle = None
        if self.dialog.state == "terminated":
            return
        logger.info("%r: session expired without refresh", self.dialog)
        self._task = asyncio.ensure_future(self._expire())

    async def _refresh(self) -> None:
        # We are the UAC of the refresh transaction and stay the refresher (10.1).
        extra = [("Session-Expires", f"{self.timer.interval};refresher=uac"),
                 ("Supported", "timer")]
        body, content_type = self.body() if self.body and self.method == "INVITE" else (b"", None)
        try:
            response = await self.dialog.request(self.method, body=body,
                                                  content_type=content_type, extra=extra)
        except Exception as exc:
            logger.warning("%r: refresh failed: %s", self.dialog, exc)
            await self._expire()
            return
        if 200 <= response.status < 300:
            self.refreshes += 1
            try:
                timer = negotiate_uac(response)
            except ValueError:
                timer = None
            self.refreshed(timer or self.timer)
        elif response.status == 491:
            self._handle = self._sched.call_later(random.uniform(2.1, 4.0), self._fire_refresh)
        elif response.status in (405, 501) and self.method == "UPDATE":
            self.method = "INVITE"
            self._handle = self._sched.call_later(0, self._fire_refresh)
        elif response.status == 422:
            value = response.headers.get("Min-SE")
            try:
                bigger = parse_min_se(value)
            except ValueError:
                bigger = None
            if bigger and bigger > self.timer.interval:
                self.timer = SessionTimer(bigger, self.timer.refresher, self.timer.we_refresh)
                self._handle = self._sched.call_later(0, self._fire_refresh)
            else:
                await self._expire()
        else:
            await self._expire()

    async def _expire(self) -> None:
        self.expired = True
        if self.dialog.state != "terminated":
            try:
                await self.dialog.request("BYE", extra=[("Reason", 'SIP;text="Session expired"')])
            except Exception as exc:
                logger.debug("%r: BYE after expiry failed: %s", self.dialog, exc)
        call_back(self.on_expired)
