"""The engine's MQTT side: the subscriber that feeds ingest, and the embedded broker.

The subscriber acknowledges a QoS 1 message (PUBACK) only after its observations are committed,
so a message the engine has not stored is redelivered by the broker (persistent session,
``clean_session=False``). Messages are handled concurrently up to a bound; when the ingest queue
is full the handlers wait, no new message is taken, and the broker holds the rest: that is the
backpressure on MQTT.

Who may publish what:
- embedded broker (amqtt): devices log in with username = device id, password = device secret,
  and may publish only to their own twin's topics (and channels), and read only their own command
  topic; the engine checks both through :class:`BrokerAuthority`.
- external broker (Mosquitto, ...): the broker authenticates and restricts topics (password and
  ACL files, see the operator guide); the engine re-checks what it can: the topic names an existing
  twin, and a device named in the topic or in the message (``"device"``) must belong to that twin,
  be unrevoked and be allowed the channel.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

import aiomqtt
import structlog
from amqtt.broker import Broker
from amqtt.contexts import Action
from amqtt.errors import BrokerError
from amqtt.plugins.base import BaseAuthPlugin, BaseTopicPlugin
from amqtt.session import Session as BrokerSession
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dte.adapters.db.tables import DeviceRow
from dte.domain.devices import CommandAck, Device
from dte.domain.errors import DteError, InvalidInput, Unauthenticated
from dte.domain.topics import TopicScheme
from dte.services.commands import CommandService, due, expire
from dte.services.devices import DeviceService, TwinContext, twin_by_names, twin_context
from dte.services.ingest import IngestWriter, Limits, Sender, authorize, validate

if TYPE_CHECKING:
    from dte.api.deps import Runtime
    from dte.api.physical import Physical

log = structlog.get_logger("dte.mqtt")
ENGINE_USER = "dte-engine"
CACHE_SECONDS = 10.0


@dataclass(frozen=True)
class BrokerAddress:
    host: str
    port: int
    username: str | None = None
    password: str | None = None
    tls: bool = False

    @classmethod
    def parse(cls, url: str) -> BrokerAddress:
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts", "tcp", "ssl"):
            raise ValueError(f"broker URL must be mqtt://host:port or mqtts://host:port, not {parts.scheme}://")
        tls = parts.scheme in ("mqtts", "ssl")
        return cls(parts.hostname or "127.0.0.1", parts.port or (8883 if tls else 1883),
                   unquote(parts.username) if parts.username else None,
                   unquote(parts.password) if parts.password else None, tls)

    def client(self, identifier: str, clean_session: bool | None = False, **options: Any) -> aiomqtt.Client:
        return aiomqtt.Client(self.host, self.port, username=self.username, password=self.password,
                              identifier=identifier, clean_session=clean_session,
                              tls_context=ssl.create_default_context() if self.tls else None, **options)


class _Cache:
    """Small time-bounded cache of database lookups made for every message."""

    def __init__(self, seconds: float = CACHE_SECONDS) -> None:
        self.seconds = seconds
        self._items: dict[Any, tuple[float, Any]] = {}

    async def get(self, key: Any, load: Callable[[], Awaitable[Any]]) -> Any:
        now = time.monotonic()
        hit = self._items.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        value = await load()
        if len(self._items) > 10_000:
            self._items.clear()
        self._items[key] = (now + self.seconds, value)
        return value


@dataclass
class MqttIngest:
    """Subscribes to the observation topics and hands every message to the ingest writer."""

    address: BrokerAddress
    scheme: TopicScheme
    sessions: async_sessionmaker[AsyncSession]
    writer: IngestWriter
    limits: Limits
    client_id: str
    max_message_bytes: int
    in_flight: int = 1000
    mqtt5: bool = True  # the embedded broker (amqtt) speaks MQTT 3.1.1 only
    handlers: list[Callable[[aiomqtt.Message], Awaitable[bool]]] = field(default_factory=list)
    extra_topics: list[str] = field(default_factory=list)
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    client: aiomqtt.Client | None = None
    stats: dict[str, int] = field(default_factory=lambda: {"received": 0, "acked": 0, "rejected": 0, "failed": 0})
    _twins: _Cache = field(default_factory=_Cache)
    _devices: _Cache = field(default_factory=_Cache)

    async def run(self) -> None:
        backoff = 0.5
        while True:
            try:
                await self._session()
            except aiomqtt.MqttError as exc:
                log.warning("mqtt_disconnected", error=str(exc), retry_in=backoff)
            self.connected.clear()
            self.client = None
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 10)

    def _client(self) -> aiomqtt.Client:
        """No local queue limit: aiomqtt would discard (and never acknowledge) what overflows it. The
        broker's in-flight window bounds what waits here instead."""
        if not self.mqtt5:
            return self.address.client(self.client_id)
        # MQTT 5: the broker may send us in_flight unacknowledged messages (3.1.1 brokers allow ~20,
        # which caps a subscriber that acknowledges after commit), and keeps the session while we are away.
        properties = Properties(PacketTypes.CONNECT)
        properties.ReceiveMaximum = self.in_flight
        properties.SessionExpiryInterval = 0xFFFFFFFF
        return self.address.client(self.client_id, clean_session=None, protocol=aiomqtt.ProtocolVersion.V5,
                                   clean_start=False, properties=properties)

    async def _session(self) -> None:
        async with self._client() as client:
            client._client.manual_ack_set(True)  # PUBACK after commit; aiomqtt 2.5 does not expose it itself
            await client.subscribe(self.scheme.filter, qos=1)
            for topic in self.extra_topics:
                await client.subscribe(topic, qos=1)
            self.client = client
            self.connected.set()
            log.info("mqtt_subscribed", host=self.address.host, port=self.address.port, topic=self.scheme.filter)
            slots = asyncio.Semaphore(self.in_flight)
            tasks: set[asyncio.Task[None]] = set()
            try:
                async for message in client.messages:
                    await slots.acquire()  # at most in_flight messages unacknowledged: the broker holds the rest
                    task = asyncio.create_task(self._handle(client, message, slots))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
            finally:
                for task in tasks:
                    task.cancel()

    async def _handle(self, client: aiomqtt.Client, message: aiomqtt.Message, slots: asyncio.Semaphore) -> None:
        self.stats["received"] += 1
        try:
            if await self._dispatch(message):
                client._client.ack(message.mid, message.qos)
                self.stats["acked"] += 1
        except Exception:
            self.stats["failed"] += 1  # not acknowledged: the broker redelivers it after a reconnect
            log.exception("mqtt_message_failed", topic=message.topic.value)
        finally:
            slots.release()

    async def _dispatch(self, message: aiomqtt.Message) -> bool:
        """True when the message is settled (stored, or refused for good) and may be acknowledged."""
        for handler in self.handlers:  # e.g. command acknowledgements
            if await handler(message):
                return True
        try:
            await self._ingest(message)
        except DteError as exc:
            self.stats["rejected"] += 1
            log.warning("mqtt_message_rejected", topic=message.topic.value, code=exc.code, reason=str(exc))
        return True

    async def _ingest(self, message: aiomqtt.Message) -> None:
        topic = message.topic.value
        fields = self.scheme.parse(topic)
        if fields is None:
            raise _refused("the topic does not follow the topic scheme", "invalid_topic")
        payload = message.payload
        if not isinstance(payload, bytes | bytearray) or len(payload) > self.max_message_bytes:
            raise _refused(f"the message is larger than {self.max_message_bytes} bytes", "payload_too_large")
        try:
            document = json.loads(payload)
        except (ValueError, RecursionError) as exc:
            raise _refused(f"the message is not JSON: {exc}", "malformed_json") from None
        twin = await self._twins.get((fields["project"], fields["twin"]),
                                     lambda: self._twin(fields["project"], fields["twin"]))
        named = fields.get("device") or (document.get("device") if isinstance(document, dict) else None)
        sender = Sender(broker=True)
        if named is not None:
            device = await self._devices.get((twin.twin_id if twin else "", named),
                                             lambda: self._device(twin, named))
            if device is None:
                raise Unauthenticated(f"device {named!r} is not a device of this twin, or was revoked",
                                      code="unknown_device")
            sender = Sender(device=device)
        twin = authorize(sender, twin, f"{fields['project']}/{fields['twin']}")
        source = document.get("source") if isinstance(document, dict) else None
        if isinstance(document, dict) and "observations" not in document:  # one record: drop envelope fields
            document = {k: v for k, v in document.items() if k not in ("device", "source")}
        batch = validate(twin, sender, document, source if isinstance(source, str) else None, self.limits,
                         default_channel=fields.get("channel"))
        self.writer.note_rejections(batch)
        if not batch.readings:
            raise InvalidInput("no observation in the message is valid", "invalid_observations", batch.errors)
        await self.writer.submit(batch, wait=True)

    async def _twin(self, project: str, twin: str) -> TwinContext | None:
        async with self.sessions() as session:
            twin_id = await twin_by_names(session, project, twin)
            return await twin_context(session, twin_id) if twin_id else None

    async def _device(self, twin: TwinContext | None, name: str) -> Device | None:
        if twin is None:
            return None
        async with self.sessions() as session:
            row = await session.scalar(select(DeviceRow).where(DeviceRow.twin_id == twin.twin_id,
                                                               DeviceRow.name == name))
            return Device.model_validate(row) if row is not None and row.revoked_at is None else None


def _refused(detail: str, code: str) -> DteError:
    return DteError(detail, code, 422)


class BrokerAuthority:
    """Decides, for the embedded broker, who may connect and which topics they may use."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], scheme: TopicScheme,
                 command_scheme: TopicScheme) -> None:
        self.sessions = sessions
        self.scheme = scheme
        self.command_scheme = command_scheme
        self.engine_password = secrets.token_urlsafe(32)
        self._devices: dict[str, tuple[Device, TwinContext]] = {}

    async def login(self, username: str | None, password: str | None) -> bool:
        if not username or not password:
            return False
        if username == ENGINE_USER:
            return secrets.compare_digest(password, self.engine_password)
        try:
            async with self.sessions() as session:
                device = await DeviceService(session).authenticate(password)
                twin = await twin_context(session, device.twin_id)
        except Unauthenticated:
            return False
        if device.id != username or twin is None:
            return False
        self._devices[username] = (device, twin)
        return True

    def may(self, username: str | None, topic: str | None, action: Action) -> bool:
        if username == ENGINE_USER:
            return True
        known = self._devices.get(username or "")
        if known is None or not topic:
            return False
        device, twin = known
        own_commands = self.command_scheme.format(project=twin.project, twin=twin.twin_name, device=device.name)
        if action == Action.PUBLISH:
            if topic == own_commands + "/ack":
                return True
            fields = self.scheme.parse(topic)
            return bool(fields and fields["project"] == twin.project and fields["twin"] == twin.twin_name
                        and fields.get("device", device.name) == device.name
                        and (not device.channels or fields.get("channel") in device.channels or
                             "channel" not in fields))
        return topic == own_commands  # subscribe to and receive only its own commands


class DeviceAuthPlugin(BaseAuthPlugin):
    @dataclass
    class Config:
        authority: Any = None

    async def authenticate(self, *, session: BrokerSession) -> bool | None:
        return await self.context.config.authority.login(session.username, session.password)


class DeviceTopicPlugin(BaseTopicPlugin):
    @dataclass
    class Config:
        authority: Any = None

    async def topic_filtering(self, *, session: BrokerSession | None = None, topic: str | None = None,
                              action: Action | None = None) -> bool | None:
        assert action is not None
        return self.context.config.authority.may(session.username if session else None, topic, action)


@asynccontextmanager
async def embedded_broker(host: str, port: int, authority: BrokerAuthority) -> AsyncIterator[Broker]:
    """A real MQTT broker inside the engine process (amqtt), authenticating devices through the engine."""
    config = {
        "listeners": {"default": {"type": "tcp", "bind": f"{host}:{port}"}},
        "plugins": {f"{__name__}.DeviceAuthPlugin": {"authority": authority},
                    f"{__name__}.DeviceTopicPlugin": {"authority": authority}},
    }
    broker = Broker(config)
    await broker.start()
    log.info("mqtt_broker_started", host=host, port=port)
    try:
        yield broker
    finally:
        await broker.shutdown()


@asynccontextmanager
async def _task(coroutine: Awaitable[None], name: str) -> AsyncIterator[None]:
    task = asyncio.ensure_future(coroutine)
    task.set_name(name)
    try:
        yield
    finally:
        task.cancel()
        try:
            await task
        except (asyncio.CancelledError, Exception):
            pass


async def mqtt_parts(stack: AsyncExitStack, rt: Runtime, physical: Physical) -> None:
    """Enter the MQTT parts the settings ask for into ``stack``: the embedded broker when no
    external one is configured, then the engine's subscriber."""
    s = rt.settings
    scheme, command_scheme = TopicScheme(s.mqtt_topic), TopicScheme(s.mqtt_command_topic)
    if s.mqtt_url is not None:
        address = BrokerAddress.parse(s.mqtt_url.get_secret_value())
    elif s.mqtt_embedded:
        authority = BrokerAuthority(rt.sessions, scheme, command_scheme)
        try:
            await stack.enter_async_context(embedded_broker(s.mqtt_host, s.mqtt_port, authority))
            address = BrokerAddress(s.mqtt_host, s.mqtt_port, ENGINE_USER, authority.engine_password)
            physical.parts["broker"] = authority
        except BrokerError as exc:  # e.g. the port is taken: HTTP ingest still works; say so loudly
            log.error("mqtt_broker_not_started", host=s.mqtt_host, port=s.mqtt_port, error=str(exc))
            address = None
    else:
        address = None
    link = None
    if address is not None:
        link = MqttIngest(address, scheme, rt.sessions, physical.writer, physical.limits, s.mqtt_client_id,
                          s.max_body_bytes, mqtt5=s.mqtt_url is not None)
        physical.parts["mqtt"] = link
    commands = physical.parts["commands"] = CommandLink(rt.sessions, command_scheme, link)
    await stack.enter_async_context(_task(commands.run(), "dte-commands"))
    if link is not None:
        await stack.enter_async_context(_task(link.run(), "dte-mqtt-ingest"))


class CommandLink:
    """Sends pending commands to their devices' command topics (again every ``resend`` seconds until
    acknowledged), expires overdue ones, and takes device acknowledgements from ``<command topic>/ack``."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], scheme: TopicScheme, link: MqttIngest | None,
                 interval: float = 0.5, resend: float = 5.0) -> None:
        self.sessions = sessions
        self.scheme = scheme
        self.ack_scheme = TopicScheme(scheme.template + "/ack")
        self.link = link
        self.interval = interval
        self.resend = resend
        self._sent: dict[str, float] = {}
        if link is not None:
            link.extra_topics.append(self.ack_scheme.filter)
            link.handlers.append(self.handle_ack)

    async def run(self) -> None:
        while True:
            try:
                async with self.sessions() as session:
                    expired = await expire(session)
                if expired:
                    log.info("commands_expired", count=expired)
                await self._send()
            except Exception:
                log.exception("command_dispatch_failed")
            await asyncio.sleep(self.interval)

    async def _send(self) -> None:
        client = self.link.client if self.link is not None else None
        if client is None:
            return
        async with self.sessions() as session:
            items = await due(session)
        now = time.monotonic()
        for command, device, twin, project in items:
            if now - self._sent.get(command.id, -1e9) < self.resend:
                continue
            topic = self.scheme.format(project=project, twin=twin, device=device.name)
            payload = {"id": command.id, "name": command.name, "arguments": command.arguments,
                       "expires_at": command.expires_at.isoformat()}
            await client.publish(topic, json.dumps(payload).encode(), qos=1)
            self._sent[command.id] = now
        pending = {c.id for c, *_ in items}
        self._sent = {k: v for k, v in self._sent.items() if k in pending}

    async def handle_ack(self, message: aiomqtt.Message) -> bool:
        fields = self.ack_scheme.parse(message.topic.value)
        if fields is None:
            return False
        try:
            body = json.loads(message.payload) if isinstance(message.payload, bytes | bytearray) else None
            if not isinstance(body, dict) or not isinstance(body.get("id"), str):
                raise InvalidInput("an acknowledgement is {\"id\", \"status\", \"detail\"}", "invalid_ack")
            async with self.sessions() as session:
                twin_id = await twin_by_names(session, fields["project"], fields["twin"])
                row = await session.scalar(select(DeviceRow).where(DeviceRow.twin_id == (twin_id or ""),
                                                                   DeviceRow.name == fields["device"]))
                if row is None or row.revoked_at is not None:
                    raise Unauthenticated("unknown or revoked device", code="unknown_device")
                ack = CommandAck.model_validate({"status": body.get("status"), "detail": body.get("detail", "")})
                await CommandService(session).ack(Device.model_validate(row), None, row.twin_id, body["id"], ack)
        except (DteError, ValueError) as exc:  # pydantic's ValidationError is a ValueError
            log.warning("command_ack_rejected", topic=message.topic.value, reason=str(exc))
        return True
