import tomllib
from pathlib import Path

import pytest
from pydantic import TypeAdapter, ValidationError

from drivers.gpio.inputs import DigitalInput
from drivers.simulated import Simulated
from gateway.sensors.config import HomeAssistantConfig, SensorList, SimulatedConfig
from gateway.sensors.registry import Resources, SensorSetupError, build_sensor, build_sensors
from gateway.sensors.resources import DeviceUnavailable
from tests.fakes.i2c import FakeSMBus
from tests.fakes.ticked_gpio import TickedMockFactory

DATA = Path(__file__).parent / "data"
SENSORS = TypeAdapter(SensorList)
ALL_TYPES = {
    "bme280",
    "sht3x",
    "sht4x",
    "bh1750",
    "ads1115",
    "ina219",
    "i2c_register",
    "ds18b20",
    "nmea",
    "pms5003",
    "modbus_rtu",
    "serial_line",
    "gpio_input",
    "pulse_counter",
    "simulated",
    "bmp180",
    "aht10",
    "aht20",
    "aht21",
    "htu21d",
    "sht21",
    "si7021",
    "lm75",
    "lm75b",
    "tmp102",
    "mcp9808",
    "scd4x",
    "ina226",
    "ina260",
    "scd30",
    "mhz19b",
    "sds011",
    "senseair_s8",
    "mcp3008",
    "mcp3208",
    "max31855",
    "max31865",
    "dht11",
    "dht22",
    "am2302",
    "hcsr04",
    "rotary_encoder",
    "hx711",
    "veml7700",
    "tsl2561",
    "sgp40",
    "sgp30",
    "bme680",
    "bme688",
    "bmp388",
    "bmp390",
    "tsl2591",
    "vl53l0x",
    "vl53l1x",
}


def load(name):
    return SENSORS.validate_python(tomllib.loads((DATA / name).read_text())["sensors"])


def test_the_demo_snippet_loads_and_builds_without_hardware():
    sensors = load("demo_sensors.toml")
    built = build_sensors(sensors, Resources(pin_factory=TickedMockFactory()))
    assert [type(b.driver) for b in built] == [Simulated] * 4 + [DigitalInput]


def test_the_documented_snippet_loads_and_builds_every_driver_with_fake_buses():
    sensors = load("gateway_sensors.toml")
    assert sensors[0].address == 0x76 and sensors[0].deadband["pressure"] == 0.5
    assert {s.type for s in sensors} == ALL_TYPES
    # the real smbus2 and pyserial objects: building creates them closed and opens no device
    resources = Resources(pin_factory=TickedMockFactory())
    built = build_sensors(sensors, resources)  # option names match the drivers' constructors
    assert not any(resources.device(b.resource).is_open for b in built if b.resource)
    assert not resources.device("serial:/dev/ttyUSB0").handle.is_open
    assert {b.resource for b in built} == {
        "i2c:1",
        "serial:/dev/serial0",
        "serial:/dev/ttyAMA0",
        "serial:/dev/ttyUSB0",
        "serial:/dev/ttyACM0",
        "spi:0.0",
        "spi:0.1",
        "spi:1.0",
        "spi:1.1",
        None,
    }
    by_name = {b.config.name: b.driver for b in built}
    assert by_name["gps"].timeout == 3.0 and by_name["fan-speed"].valid_range == (0, 20000)
    assert by_name["fan-speed"].register == 0x10
    # one driver for several chips gets the chip from `type` (type_option)
    assert (by_name["aht-a"].chip, by_name["sht21"].chip, by_name["tmp102"].chip) == (
        "aht10",
        "sht21",
        "tmp102",
    )
    assert by_name["aht-a"].length == 6 and by_name["tmp102"].bits == 12
    assert by_name["weather-station"].quantities == (("temperature", "°C"), ("humidity", "%"))
    water = next(s for s in sensors if s.name == "water")
    assert water.persist is True and water.persist_interval == 300  # not driver options


def test_the_example_config_documents_every_sensor_key():
    import re
    import typing

    from gateway.sensors.config import SensorBase, SensorConfig

    text = (Path(__file__).resolve().parents[3] / "config" / "gateway.toml").read_text()
    first = text.index("\n[[sensors]]")  # the tables; the common options are documented above
    section, header = text[first : text.index("\n[[relays]]")], text[:first]
    for model in typing.get_args(typing.get_args(SensorConfig)[0]):
        for key, field in model.model_fields.items():
            if key in SensorBase.model_fields:
                assert re.search(rf"^#   .*\b{key}\b", header, re.MULTILINE), f"{key} undocumented"
            elif key != "type":
                name = field.alias or key
                assert re.search(rf"^#? ?{name} = ", section, re.MULTILINE), (
                    f"{model.__name__}.{name} undocumented"
                )


def test_the_union_covers_every_driver_type():
    schema = SENSORS.json_schema()
    tags = set(schema["items"]["discriminator"]["mapping"])
    assert tags == ALL_TYPES


def one(**raw):
    return SENSORS.validate_python([raw])[0]


def error_of(**raw):
    with pytest.raises(ValidationError) as info:
        one(**raw)
    return str(info.value)


def test_hex_strings_are_accepted_for_addresses():
    assert one(type="sht3x", name="a", address="0x45").address == 0x45
    assert "expected an integer such as 0x76" in error_of(type="sht3x", name="a", address="sixty")
    assert "less than or equal to 119" in error_of(type="sht3x", name="a", address=0x80)


def test_misspelt_key_and_unknown_type_are_errors():
    assert "adress" in error_of(type="bme280", name="a", adress=0x76)
    assert "does not match any of the expected tags" in error_of(type="bme208", name="a")


@pytest.mark.parametrize(
    "raw, message",
    [
        ({"deadband": {"temperature": 0.1}}, "only with on_change = true"),
        ({"on_change": True, "max_silence": 5, "interval": 10}, "must be at least the interval"),
        ({"backoff_max": 5, "interval": 10}, "backoff_max (5 s) must be at least the interval"),
        ({"topic": "home/+/x"}, "must be a plain topic name"),
        ({"topic": "/home"}, "must be a plain topic name"),
        ({"decimals": {"Temp": 1}}, "snake_case"),
        ({"name": "has space"}, "should match pattern"),
        ({"qos": 3}, "less than or equal to 2"),
        ({"interval": 0}, "greater than or equal to 0.1"),
    ],
)
def test_common_options_are_checked(raw, message):
    assert message in error_of(type="simulated", **{"name": "x", **raw})


def test_names_and_topics_must_be_unique():
    with pytest.raises(ValidationError, match="sensor name 'a' is used twice"):
        SENSORS.validate_python(
            [{"type": "simulated", "name": "a"}, {"type": "simulated", "name": "a"}]
        )
    with pytest.raises(ValidationError, match="share the topic 'x/y'"):
        SENSORS.validate_python(
            [
                {"type": "simulated", "name": "a", "topic": "x/y"},
                {"type": "simulated", "name": "b", "topic": "x/y"},
            ]
        )


def test_type_specific_options_are_checked():
    assert "register" in error_of(type="i2c_register", name="a", address=0x20, quantity="x")
    assert "register" in error_of(
        type="i2c_register", name="a", address=0x20, quantity="x", register=300
    )
    assert "device_id" in error_of(type="ds18b20", name="a", device_id="10-xyz")
    assert "oversampling_temperature" in error_of(
        type="bme280", name="a", oversampling_temperature=3
    )
    assert "pin" in error_of(type="gpio_input", name="a", pin=99)
    assert "kind" in error_of(type="gpio_input", name="a", pin=4, kind="doorbell")
    assert one(type="gpio_input", name="a", pin=4).on_change is True


def test_homeassistant_section():
    assert HomeAssistantConfig().prefix == "homeassistant"
    with pytest.raises(ValidationError):
        HomeAssistantConfig(prefix="ha/#")


# --- registry ---------------------------------------------------------------------------------


def test_i2c_sensors_on_one_bus_share_the_bus_and_its_lock():
    created = []

    def new_i2c():
        created.append(FakeSMBus())
        return created[-1]

    resources = Resources(new_i2c=new_i2c)
    a = build_sensor(one(type="sht3x", name="a"), resources)
    b = build_sensor(one(type="bme280", name="b", address=0x77), resources)
    assert len(created) == 1 and a.resource == b.resource == "i2c:1"
    assert a.driver.bus is b.driver.bus is created[0]
    device = resources.device("i2c:1")
    assert device.ensure_open() == 1 and created[0].opens == 1
    assert device.ensure_open() == 1 and created[0].opens == 1  # open stays open
    resources.close()
    assert created[0].closed


class MissingDriverConfig(SimulatedConfig):
    driver = ("drivers.not_installed", "Gadget")  # as if the module or its library were missing


def test_missing_driver_module_names_the_sensor():
    config = MissingDriverConfig(type="simulated", name="probe")
    with pytest.raises(
        SensorSetupError,
        match=r"sensor 'probe' \(type simulated\): cannot load the "
        r"driver drivers.not_installed.Gadget: No module named",
    ):
        build_sensor(config, Resources())


def test_absent_hardware_is_not_a_setup_error(tmp_path):
    """A missing /dev/i2c-N or serial port is found when the scheduler opens it, not at build."""
    resources = Resources()  # the real smbus2 and pyserial
    i2c = build_sensor(one(type="bme280", name="attic", bus=250), resources)
    port = str(tmp_path / "ttyUSB0")
    serial = build_sensor(one(type="nmea", name="gps", port=port), resources)
    with pytest.raises(DeviceUnavailable, match=r"cannot open /dev/i2c-250: \[Errno 2\]"):
        resources.device(i2c.resource).ensure_open()
    with pytest.raises(
        DeviceUnavailable, match=f"cannot open {port}: \\[Errno 2\\] No such file or directory$"
    ):
        resources.device(serial.resource).ensure_open()
    assert isinstance(DeviceUnavailable("x"), OSError)


def test_config_problems_still_stop_the_build():
    with pytest.raises(
        SensorSetupError,
        match=r"sensor 'gps' \(type nmea\): invalid URL, protocol "
        r"'nosuch' not known",
    ):
        build_sensor(one(type="nmea", name="gps", port="nosuch://x"), Resources())

    def no_smbus2():
        raise ModuleNotFoundError("No module named 'smbus2'")

    with pytest.raises(
        SensorSetupError, match=r"sensor 'attic' \(type bme280\): No module named 'smbus2'"
    ):
        build_sensor(one(type="bme280", name="attic"), Resources(new_i2c=no_smbus2))


def test_options_must_name_quantities_the_driver_reports():
    with pytest.raises(SensorSetupError, match=r"deadband names \['humidity'\].*\['temperature'\]"):
        build_sensor(
            one(type="simulated", name="t", on_change=True, deadband={"humidity": 1}), Resources()
        )


def test_gpio_sensors_get_the_injected_pin_factory():
    factory = TickedMockFactory()
    built = build_sensor(
        one(type="pulse_counter", name="w", pin=27, factor=0.5, total_unit="L"),
        Resources(pin_factory=factory),
    )
    built.driver.open()
    factory.pin(27).drive_low()
    assert built.driver.read()[:2][1].value == 0.5
    built.driver.close()
