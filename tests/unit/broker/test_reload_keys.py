"""Every [broker] and [store] key says how a reload applies it (gateway.broker.reload): a key
added to the config without a line in BROKER_KEYS / STORE_KEYS fails here."""

from gateway.broker.reload import BROKER_KEYS, LIVE, NEW_CONNECTIONS, RESTART, STORE_KEYS
from gateway.broker.settings import BrokerSettings
from gateway.config import BrokerConfig, StoreConfig


def test_every_broker_key_is_classified():
    assert set(BROKER_KEYS) == set(BrokerConfig.model_fields) - {"listeners"}
    assert set(BROKER_KEYS.values()) <= {LIVE, NEW_CONNECTIONS, RESTART}


def test_every_store_key_is_classified():
    assert set(STORE_KEYS) == set(StoreConfig.model_fields)


def test_broker_keys_are_the_settings_the_core_reads():
    """Each key besides the two connection limits (gateway.broker.admission) is a field of the
    BrokerSettings that apply_settings hands to the core."""
    settings = set(BrokerSettings.__dataclass_fields__)
    assert set(BROKER_KEYS) - settings == {"max_connections", "max_connections_per_address"}


def test_new_settings_keep_a_sessions_own_queue_limits():
    """A bridge's session has queue limits of its own ([[bridges]] queue): a reload of the
    [broker] limits changes the rest of its settings and leaves those."""
    import dataclasses

    from gateway.broker.server import Broker
    from gateway.broker.session import Session

    broker = Broker(BrokerSettings(sys_interval=0))
    core = broker.core
    plain = Session("plain", core.settings, core.stats)
    bridge = Session("$bridge/cloud", core.settings, core.stats)
    bridge.settings = dataclasses.replace(core.settings, max_queued_messages=50_000)
    core.sessions.update({"plain": plain, "$bridge/cloud": bridge})
    new = dataclasses.replace(core.settings, max_queued_messages=10, max_topic_length=99)
    broker.apply_settings(new)
    assert plain.settings is new
    assert (bridge.settings.max_queued_messages, bridge.settings.max_topic_length) == (50_000, 99)
    assert core.settings is new
