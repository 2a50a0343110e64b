"""Email over SMTP (locally Mailpit, in production any relay): a plain-text part and an HTML one."""

from email.message import EmailMessage
from email.utils import make_msgid

import aiosmtplib

from contracts.notifications import Channel
from services.notifications.channels import Outcome, Outgoing


class Email:
    channel: Channel = "email"

    def __init__(
        self, host: str, port: int, sender: str, *, username: str | None = None, password: str | None = None,
        starttls: bool = False, timeout: float = 10.0,
    ) -> None:  # fmt: skip
        self.host, self.port, self.sender = host, port, sender
        self.username, self.password, self.starttls, self.timeout = username, password, starttls, timeout

    def message(self, out: Outgoing) -> EmailMessage:
        msg = EmailMessage()
        msg["From"] = self.sender
        msg["To"] = out.person.email or ""
        msg["Subject"] = out.rendered.subject
        # Derived from the idempotency key: a copy sent again after a crash is the same message to a
        # mail client, which shows it once.
        msg["Message-ID"] = make_msgid(idstring=out.delivery_id.replace(":", "."), domain="recovery.network")
        msg["X-RN-Delivery"] = out.delivery_id
        msg.set_content(out.rendered.text)
        msg.add_alternative(out.rendered.html, subtype="html")
        return msg

    async def send(self, out: Outgoing) -> Outcome:
        if not out.person.email:
            return Outcome(ok=False, reason="no address", retry=False)
        try:
            await aiosmtplib.send(
                self.message(out), hostname=self.host, port=self.port, username=self.username,
                password=self.password, start_tls=self.starttls, timeout=self.timeout,
            )  # fmt: skip
        except aiosmtplib.SMTPRecipientsRefused:
            return Outcome(ok=False, reason="recipient refused", retry=False)
        except (aiosmtplib.SMTPException, OSError) as exc:
            return Outcome(ok=False, reason=type(exc).__name__)
        return Outcome(ok=True)
