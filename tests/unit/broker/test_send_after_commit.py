"""A durable session sends a QoS 2 PUBLISH, and a PUBREL, only after the commit that records its
packet id and state; later sends wait behind it in order [MQTT-4.3.3], [MQTT-4.6.0-6].

Pure: the core over sans-IO connections and a fake store whose commits the test makes happen.
"""

from __future__ import annotations

from gateway.broker.core import BrokerCore
from gateway.broker.settings import BrokerSettings
from gateway.broker.store.persistence import Gate, Persistence
from gateway.mqtt.codec import StreamDecoder, encode
from gateway.mqtt.enums import QoS
from gateway.mqtt.packets import Connect, Publish, Pubrec, Pubrel, Subscribe, Subscription


class FakeStore(Persistence):
    """Counts writes like the SQLite store; `commit()` is the store thread reporting a commit."""

    enabled = True

    def __init__(self, relaxed: bool = False) -> None:
        self.relaxed = relaxed
        self.seq = 0
        self.gates: list[Gate] = []
        self._qid = 0

    def mark(self) -> int:
        return self.seq

    def ticket_since(self, mark: int) -> int | None:
        return None if self.relaxed or self.seq == mark else self.seq

    def hold(self, gate: Gate) -> None:
        self.gates.append(gate)

    def commit(self) -> None:
        self.gates = [gate for gate in self.gates if not gate.release(self.seq)]

    def session_changed(self, session, now):
        session.durable = session.expiry_interval != 0
        self.seq += 1

    def queue_add(self, session, delivery):
        self._qid += 1
        delivery.qid = self._qid
        self.seq += 1
        return True

    def delivery_sent(self, session, delivery, packet_id, state):
        if not delivery.qid:
            self._qid += 1
            delivery.qid = self._qid
        self.seq += 1

    def queue_remove(self, session, delivery):
        delivery.qid = 0
        self.seq += 1


def setup(store: FakeStore, expiry_clean: bool = False):
    core = BrokerCore(BrokerSettings(sys_interval=0), 0.0)
    core.persistence = store
    sub, pub = core.open_connection(0.0), core.open_connection(0.0)
    sub.receive_data(encode(Connect("sub", clean_start=expiry_clean), 4), 0.0)
    sub.receive_data(encode(Subscribe(1, (Subscription("t/#", QoS.EXACTLY_ONCE),)), 4), 0.0)
    pub.receive_data(encode(Connect("pub"), 4), 0.0)
    store.commit()
    received(sub)
    return core, sub, pub


def received(conn) -> list:
    return list(StreamDecoder(version=4).feed(conn.data_to_send()))


def publish(pub, qos: int, payload: bytes, packet_id: int | None = None) -> None:
    pub.receive_data(encode(Publish("t/a", payload, QoS(qos), packet_id=packet_id), 4), 1.0)


def test_qos2_publish_to_a_durable_session_waits_for_its_commit_mqtt_4_3_3():
    store = FakeStore()
    core, sub, pub = setup(store)
    publish(pub, 2, b"m", packet_id=5)
    assert received(sub) == []  # not on the wire before the commit recording packet id 1
    assert core.sessions["sub"].inflight  # but in flight: it counts in the window
    store.commit()
    out = received(sub)
    assert [(p.payload, p.packet_id, p.dup) for p in out] == [(b"m", 1, False)]


def test_later_qos0_and_qos1_wait_behind_a_held_qos2_mqtt_4_6_0_6():
    store = FakeStore()
    _core, sub, pub = setup(store)
    publish(pub, 2, b"two", packet_id=5)
    publish(pub, 0, b"zero")
    publish(pub, 1, b"one", packet_id=6)
    assert received(sub) == []
    store.commit()
    assert [p.payload for p in received(sub)] == [b"two", b"zero", b"one"]
    publish(pub, 0, b"alone")  # nothing held any more: at once
    assert [p.payload for p in received(sub)] == [b"alone"]


def test_qos1_alone_is_not_held():
    store = FakeStore()
    _core, sub, pub = setup(store)
    publish(pub, 1, b"one", packet_id=6)
    assert [p.payload for p in received(sub)] == [b"one"]


def test_pubrel_waits_for_the_commit_of_awaiting_pubcomp_mqtt_4_3_3():
    store = FakeStore()
    _core, sub, pub = setup(store)
    publish(pub, 2, b"m", packet_id=5)
    store.commit()
    (publish_out,) = received(sub)
    sub.receive_data(encode(Pubrec(publish_out.packet_id), 4), 2.0)
    assert received(sub) == []  # a crash now must not find PUBREL sent but "awaiting PUBREC" stored
    store.commit()
    assert received(sub) == [Pubrel(publish_out.packet_id)]


def test_reconnect_before_the_commit_resends_with_dup_and_the_same_id_after_it():
    store = FakeStore()
    core, sub, pub = setup(store)
    publish(pub, 2, b"m", packet_id=5)
    sub.connection_lost(1.5)
    again = core.open_connection(2.0)
    again.receive_data(encode(Connect("sub", clean_start=False), 4), 2.0)
    assert [type(p).__name__ for p in received(again)] == ["Connack"]  # the re-send waits too
    store.commit()
    (out,) = received(again)
    assert (out.payload, out.packet_id, out.dup) == (b"m", 1, True)


def test_non_durable_session_and_relaxed_store_send_at_once():
    for store, clean in ((FakeStore(), True), (FakeStore(relaxed=True), False)):
        _core, sub, pub = setup(store, expiry_clean=clean)
        publish(pub, 2, b"m", packet_id=5)
        assert [p.payload for p in received(sub)] == [b"m"]
