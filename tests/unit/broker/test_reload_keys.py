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
