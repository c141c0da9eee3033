"""Sensor configuration: one pydantic model per driver type, joined in a union discriminated on `type`.

Every model is frozen and forbids unknown keys, so a misspelt option is an error naming the key.
Fields shared by all sensors live in `SensorBase`; the remaining fields of a model are passed to the
driver's constructor as keyword arguments by gateway.sensors.registry (the names match the drivers'
constructors; `DRIVER_FIELDS` lists which fields are the bus seam rather than driver options).

Checks that need the driver (deadband / decimals / device_class keys must be quantities the driver
reports) are made by the registry when it builds the driver.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Annotated, Any, ClassVar, Literal

from gateway.modelbase import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    NonNegativeFloat,
    PositiveFloat,
    model_validator,
)
from gateway.sensors.filters import FilterError
from gateway.sensors.filters import parse as parse_filter

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
QUANTITY_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
TOPIC_FORBIDDEN = ("+", "#", "\x00")


def _parse_int(value: Any) -> Any:
    """Accept 0x76 (TOML hex), 118 and the strings "0x76" / "118"."""
    if isinstance(value, str):
        try:
            return int(value.strip(), 0)
        except ValueError:
            raise ValueError(f"expected an integer such as 0x76, not {value!r}") from None
    return value


I2CAddress = Annotated[int, BeforeValidator(_parse_int), Field(ge=0x03, le=0x77)]
Pin = Annotated[int, Field(ge=0, le=53)]


def _check_topic(topic: str | None) -> str | None:
    if topic is None:
        return None
    if (
        not topic
        or any(c in topic for c in TOPIC_FORBIDDEN)
        or topic.startswith(("/", "$"))
        or topic.endswith("/")
    ):
        raise ValueError(
            f"topic {topic!r} must be a plain topic name: no + # or NUL, no leading $ "
            f"or /, no trailing /"
        )
    return topic


def _check_quantity_keys(mapping: dict[str, Any]) -> dict[str, Any]:
    bad = [k for k in mapping if not QUANTITY_PATTERN.match(k)]
    if bad:
        raise ValueError(f"quantity names must be snake_case (like pm2_5), not {bad}")
    return mapping


class SensorBase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    #: (module, class) of the driver; set by each subclass
    driver: ClassVar[tuple[str, str]] = ("", "")
    #: config field -> driver keyword, where the driver's name would clash with a common option
    option_names: ClassVar[dict[str, str]] = {}
    #: the driver keyword that gets `type`, for one driver serving several chips (chip = "aht10")
    type_option: ClassVar[str | None] = None

    name: Annotated[str, Field(pattern=NAME_PATTERN)]
    label: str | None = None  # Home Assistant entity name prefix; default: name
    interval: Annotated[float, Field(ge=0.1, le=86_400)] = 30.0
    timeout: Annotated[float, Field(gt=0, le=600)] = 5.0
    qos: Annotated[int, Field(ge=0, le=2)] = 1
    retain: bool = True
    on_change: bool = False  # publish only on change (deadband) or max_silence
    deadband: dict[str, NonNegativeFloat] = {}  # quantity -> smallest change worth publishing
    max_silence: PositiveFloat | None = None  # with on_change: publish at least this often
    topic: Annotated[str | None, AfterValidator(_check_topic)] = (
        None  # default <base>/sensor/<name>
    )
    plain_topics: bool = False  # also <state topic>/<quantity> with the bare value
    decimals: dict[str, Annotated[int, Field(ge=0, le=9)]] = {}
    device_class: dict[str, str] = {}  # Home Assistant override; "none" removes it
    backoff_max: Annotated[float, Field(gt=0, le=86_400)] = 300.0
    offline_after: Annotated[int, Field(ge=1, le=100)] = 3  # consecutive failures -> offline
    filters: dict[str, list[dict[str, Any]]] = {}  # quantity -> chain (gateway.sensors.filters)

    @model_validator(mode="after")
    def _check_common(self) -> SensorBase:
        for field in ("deadband", "decimals", "device_class", "filters"):
            _check_quantity_keys(getattr(self, field))
        for quantity, specs in self.filters.items():
            for i, spec in enumerate(specs):
                try:
                    parse_filter(spec)
                except FilterError as exc:
                    raise ValueError(
                        f"sensor {self.name!r}: filters.{quantity}[{i}]: {exc}"
                    ) from None
        if not self.on_change and (self.deadband or self.max_silence is not None):
            raise ValueError(
                f"sensor {self.name!r}: deadband and max_silence apply only with on_change = true"
            )
        if self.max_silence is not None and self.max_silence < self.interval:
            raise ValueError(
                f"sensor {self.name!r}: max_silence ({self.max_silence:g} s) must be at "
                f"least the interval ({self.interval:g} s)"
            )
        if self.backoff_max < self.interval:
            raise ValueError(
                f"sensor {self.name!r}: backoff_max ({self.backoff_max:g} s) must be at "
                f"least the interval ({self.interval:g} s)"
            )
        return self


# --- I2C -----------------------------------------------------------------------------------------


class I2CSensor(SensorBase):
    bus: Annotated[int, Field(ge=0, le=255)] = 1  # /dev/i2c-<bus>


class BME280Config(I2CSensor):
    driver = ("drivers.i2c.bme280", "BME280")
    type: Literal["bme280"]
    address: I2CAddress = 0x76
    oversampling_temperature: Literal[1, 2, 4, 8, 16] = 1
    oversampling_pressure: Literal[0, 1, 2, 4, 8, 16] = 1
    oversampling_humidity: Literal[0, 1, 2, 4, 8, 16] = 1
    iir_filter: Literal[0, 2, 4, 8, 16] = 0


class SHT3xConfig(I2CSensor):
    driver = ("drivers.i2c.sht3x", "SHT3x")
    type: Literal["sht3x"]
    address: I2CAddress = 0x44
    repeatability: Literal["high", "medium", "low"] = "high"


class SHT4xConfig(I2CSensor):
    driver = ("drivers.i2c.sht4x", "SHT4x")
    type: Literal["sht4x"]
    address: I2CAddress = 0x44
    precision: Literal["high", "medium", "low"] = "high"


class BH1750Config(I2CSensor):
    driver = ("drivers.i2c.bh1750", "BH1750")
    type: Literal["bh1750"]
    address: I2CAddress = 0x23
    mode: Literal["high", "high2", "low"] = "high"
    mtreg: Annotated[int, Field(ge=31, le=254)] = 69  # measurement time register (sensitivity)


# A datasheet's float choices (gains, resolutions, conversion times) are Literal[...] fields: pydantic
# checks a value against exactly those and names them in its error, but typing's Literal takes no
# floats (PEP 586), so each such field carries `type: ignore[valid-type]` (mypy then sees no type).
class ADS1115Config(I2CSensor):
    driver = ("drivers.i2c.ads1115", "ADS1115")
    type: Literal["ads1115"]
    address: I2CAddress = 0x48
    # "0".."3" single-ended, or "0-1", "0-3", "1-3", "2-3" differential
    channels: Annotated[
        list[Literal["0", "1", "2", "3", "0-1", "0-3", "1-3", "2-3"]], Field(min_length=1)
    ] = ["0", "1", "2", "3"]
    gain: Literal[6.144, 4.096, 2.048, 1.024, 0.512, 0.256] = 4.096  # type: ignore[valid-type]  # full-scale volts
    data_rate: Literal[8, 16, 32, 64, 128, 250, 475, 860] = 128  # samples per second


class INA219Config(I2CSensor):
    driver = ("drivers.i2c.ina219", "INA219")
    type: Literal["ina219"]
    address: I2CAddress = 0x40
    shunt_ohms: PositiveFloat = 0.1
    max_current: PositiveFloat = 3.2  # amps, sets the calibration
    bus_voltage_range: Literal[16, 32] = 32
    samples: Literal[1, 2, 4, 8, 16, 32, 64, 128] = 1


class BME680Config(I2CSensor):
    """BME680 / BME688 (told apart by the chip): gas_resistance is the heater plate's ohms."""

    driver = ("drivers.i2c.bme680", "BME680")
    type: Literal["bme680", "bme688"]
    address: I2CAddress = 0x77
    oversampling_temperature: Literal[0, 1, 2, 4, 8, 16] = 2
    oversampling_pressure: Literal[0, 1, 2, 4, 8, 16] = 4
    oversampling_humidity: Literal[0, 1, 2, 4, 8, 16] = 1
    iir_filter: Literal[0, 1, 3, 7, 15, 31, 63, 127] = 3
    gas: bool = True  # heat the plate and report gas_resistance
    heater_temperature: Annotated[int, Field(ge=200, le=400)] = 320  # °C
    heater_duration: Annotated[int, Field(ge=1, le=4032)] = 150  # ms per measurement


class BMP388Config(I2CSensor):
    driver = ("drivers.i2c.bmp388", "BMP388")
    type: Literal["bmp388", "bmp390"]
    address: I2CAddress = 0x77
    oversampling_pressure: Literal[1, 2, 4, 8, 16, 32] = 8
    oversampling_temperature: Literal[1, 2, 4, 8, 16, 32] = 1
    iir_filter: Literal[0, 1, 3, 7, 15, 31, 63, 127] = 3


class BMP180Config(I2CSensor):
    driver = ("drivers.i2c.bmp180", "BMP180")
    type: Literal["bmp180"]
    address: I2CAddress = 0x77
    oversampling: Literal[0, 1, 2, 3] = 1  # 1, 2, 4, 8 samples: 4.5 .. 25.5 ms


class AHTConfig(I2CSensor):
    driver = ("drivers.i2c.aht", "AHT")
    type_option = "chip"
    type: Literal["aht10", "aht20", "aht21"]
    address: I2CAddress = 0x38


class HTU21DConfig(I2CSensor):
    """HTU21D, SHT21 and Si7021: one command set at 0x40."""

    driver = ("drivers.i2c.htu21d", "HTU21D")
    type_option = "chip"
    type: Literal["htu21d", "sht21", "si7021"]
    address: I2CAddress = 0x40


class LM75Config(I2CSensor):
    driver = ("drivers.i2c.lm75", "LM75")
    type_option = "chip"
    type: Literal["lm75", "lm75b", "tmp102"]
    address: I2CAddress = 0x48


class MCP9808Config(I2CSensor):
    driver = ("drivers.i2c.mcp9808", "MCP9808")
    type: Literal["mcp9808"]
    address: I2CAddress = 0x18
    resolution: Literal[0.5, 0.25, 0.125, 0.0625] = 0.0625  # type: ignore[valid-type]  # °C; conversion 30 .. 250 ms


class SCD4xConfig(I2CSensor):
    """SCD40 / SCD41: a CO2 sample every 5 s in periodic mode, or (SCD41) one per read."""

    driver = ("drivers.i2c.scd4x", "SCD4x")
    type: Literal["scd4x"]
    address: I2CAddress = 0x62
    self_calibration: bool = True  # automatic self-calibration (needs fresh air weekly)
    single_shot: bool = False  # SCD41 only: idle between reads, measure_single_shot (5 s) each
    altitude: Annotated[int, Field(ge=0, le=3000)] = 0  # metres, for the pressure compensation
    interval: Annotated[float, Field(ge=5, le=86_400)] = 30.0  # the sensor samples every 5 s
    timeout: Annotated[float, Field(gt=0, le=600)] = 10.0  # the first sample takes 5 s


class VL53L0XConfig(I2CSensor):
    """VL53L0X time of flight: one single ranging per read, with the chip's power-on settings."""

    driver = ("drivers.i2c.vl53l0x", "VL53L0X")
    type: Literal["vl53l0x"]
    address: I2CAddress = 0x29


class VL53L1XConfig(I2CSensor):
    """VL53L1X time of flight: ranging back to back, the next result taken at each read."""

    driver = ("drivers.i2c.vl53l1x", "VL53L1X")
    type: Literal["vl53l1x"]
    address: I2CAddress = 0x29
    distance_mode: Literal["short", "long"] = "long"  # short: up to 1.3 m, better in sunlight
    timing_budget: Literal[15, 20, 33, 50, 100, 200, 500] = 100  # ms; 15 only in short mode

    @model_validator(mode="after")
    def _check_budget(self) -> VL53L1XConfig:
        if self.timing_budget == 15 and self.distance_mode == "long":
            raise ValueError(f"sensor {self.name!r}: timing_budget 15 ms is for short mode only")
        return self


class GasSensorConfig(I2CSensor):
    """SGP30 / SGP40: a sample every second feeds their baseline algorithms."""

    interval: Annotated[float, Field(ge=1, le=1)] = 1.0
    on_change: bool = True  # 1 Hz reads, published on change
    max_silence: PositiveFloat | None = 60.0
    compensation_sensor: str | None = None  # a sensor reporting temperature and humidity


class SGP40Config(GasSensorConfig):
    driver = ("drivers.i2c.sgp", "SGP40")
    type: Literal["sgp40"]
    address: I2CAddress = 0x59
    deadband: dict[str, NonNegativeFloat] = {"voc_index": 5.0}


class SGP30Config(GasSensorConfig):
    driver = ("drivers.i2c.sgp", "SGP30")
    type: Literal["sgp30"]
    address: I2CAddress = 0x58
    deadband: dict[str, NonNegativeFloat] = {"eco2": 20.0, "tvoc": 10.0}


class VEML7700Config(I2CSensor):
    driver = ("drivers.i2c.veml7700", "VEML7700")
    type: Literal["veml7700"]
    address: I2CAddress = 0x10
    gain: Literal[2.0, 1.0, 0.25, 0.125] | None = None  # type: ignore[valid-type]  # None with integration_time: auto
    integration_time: Literal[0.025, 0.05, 0.1, 0.2, 0.4, 0.8] | None = None  # type: ignore[valid-type]  # seconds
    resolution: PositiveFloat = 0.0036  # lx per count at gain 2, 800 ms (newer datasheets: 0.0042)

    @model_validator(mode="after")
    def _check_setting(self) -> VEML7700Config:
        if (self.gain is None) != (self.integration_time is None):
            raise ValueError(
                f"sensor {self.name!r}: set both gain and integration_time, or neither (auto gain)"
            )
        return self


class TSL2561Config(I2CSensor):
    driver = ("drivers.i2c.tsl2561", "TSL2561")
    type: Literal["tsl2561"]
    address: I2CAddress = 0x39
    gain: Literal["auto", "1x", "16x"] = "auto"  # auto: 16x, or 1x when 16x saturates
    integration_time: Literal[0.0137, 0.101, 0.402] = 0.402  # type: ignore[valid-type]  # seconds


class TSL2591Config(I2CSensor):
    driver = ("drivers.i2c.tsl2591", "TSL2591")
    type: Literal["tsl2591"]
    address: I2CAddress = 0x29
    gain: Literal["auto", "low", "medium", "high", "max"] = "auto"
    integration_time: Literal[100, 200, 300, 400, 500, 600] = 200  # ms
    lux_factor: PositiveFloat = 1.0  # scales the lux (a window or diffuser over it)


class SCD30Config(I2CSensor):
    driver = ("drivers.i2c.scd30", "SCD30")
    type: Literal["scd30"]
    address: I2CAddress = 0x61
    measurement_interval: Annotated[int, Field(ge=2, le=1800)] = 2  # s between its own samples
    self_calibration: bool = False  # automatic self-calibration (off as shipped)
    altitude: Annotated[int, Field(ge=0, le=3000)] = 0  # metres, for its pressure compensation
    pressure: Annotated[int, Field(ge=0, le=1400)] = 0  # mbar, 0 = use altitude; else 700..1400

    @model_validator(mode="after")
    def _check_timing(self) -> SCD30Config:
        if self.timeout <= self.measurement_interval + 1:
            raise ValueError(
                f"sensor {self.name!r}: timeout ({self.timeout:g} s) must be longer than "
                f"measurement_interval + 1 s: a read waits for the next sample"
            )
        if self.pressure and self.pressure < 700:
            raise ValueError(f"sensor {self.name!r}: pressure must be 0 or 700..1400 mbar")
        return self


class INA260Config(I2CSensor):
    """INA260 (2 mΩ inside); INA226Config adds the external shunt."""

    driver = ("drivers.i2c.ina226", "INA260")
    type: Literal["ina260"]
    address: I2CAddress = 0x40
    samples: Literal[1, 4, 16, 64, 128, 256, 512, 1024] = 16  # averaged per conversion
    conversion_time: Literal[  # type: ignore[valid-type]
        0.00014, 0.000204, 0.000332, 0.000588, 0.0011, 0.002116, 0.004156, 0.008244
    ] = 0.0011  # seconds, bus and shunt each


class INA226Config(INA260Config):
    driver = ("drivers.i2c.ina226", "INA226")
    type: Literal["ina226"]  # type: ignore[assignment]  # its own type key, the rest inherited
    shunt_ohms: PositiveFloat = 0.1
    max_current: PositiveFloat = 0.8  # amps, sets the calibration (<= 81.92 mV / shunt)


class I2CRegisterConfig(I2CSensor):
    """Any chip whose measurement is a plain register: value = raw × scale + offset."""

    driver = ("drivers.i2c.register", "RegisterSensor")
    option_names = {"register_address": "register"}
    type: Literal["i2c_register"]
    address: I2CAddress
    # `register` in TOML; renamed here because BaseModel has a `register` attribute
    register_address: Annotated[
        int, BeforeValidator(_parse_int), Field(ge=0, le=0xFF, alias="register")
    ]
    quantity: Annotated[str, Field(pattern=QUANTITY_PATTERN.pattern)]
    unit: str = ""
    length: Annotated[int, Field(ge=1, le=32)] = 2
    byte_order: Literal["big", "little"] = "big"
    signed: bool = False
    scale: float = 1.0
    offset: float = 0.0
    valid_range: tuple[float, float] | None = None


# --- SPI -----------------------------------------------------------------------------------------


class SPISensor(SensorBase):
    bus: Annotated[int, Field(ge=0, le=6)] = 0  # /dev/spidev<bus>.<chip_select>
    chip_select: Annotated[int, Field(ge=0, le=3)] = 0  # bus 0: CE0 = GPIO 8, CE1 = GPIO 7


SPIChannel = Literal[
    "0", "1", "2", "3", "4", "5", "6", "7", "0-1", "1-0", "2-3", "3-2", "4-5", "5-4", "6-7", "7-6"
]


class MCP3008Config(SPISensor):
    driver = ("drivers.spi.mcp3008", "MCP3008")
    type: Literal["mcp3008"]
    channels: Annotated[list[SPIChannel], Field(min_length=1)] = ["0"]  # "0".."7" or pairs "0-1"
    vref: Annotated[float, Field(gt=0, le=5.5)] = 3.3  # volts on VREF (3.3 V from the Pi)


class MCP3208Config(MCP3008Config):
    driver = ("drivers.spi.mcp3008", "MCP3208")
    type: Literal["mcp3208"]  # type: ignore[assignment]  # its own type key, the rest inherited


class MAX31855Config(SPISensor):
    driver = ("drivers.spi.max31855", "MAX31855")
    type: Literal["max31855"]


class MAX31865Config(SPISensor):
    driver = ("drivers.spi.max31865", "MAX31865")
    type: Literal["max31865"]
    rtd_nominal: Literal[100.0, 1000.0] = 100.0  # type: ignore[valid-type]  # PT100 or PT1000
    reference: PositiveFloat = 430.0  # the board's reference resistor (PT1000: 4300)
    wires: Literal[2, 3, 4] = 3
    filter_hz: Literal[50, 60] = 50  # your mains frequency

    @model_validator(mode="after")
    def _check_reference(self) -> MAX31865Config:
        if self.reference <= self.rtd_nominal:
            raise ValueError(
                f"sensor {self.name!r}: reference ({self.reference:g} Ω) must be above "
                f"rtd_nominal ({self.rtd_nominal:g} Ω)"
            )
        return self


# --- 1-Wire --------------------------------------------------------------------------------------


class DS18B20Config(SensorBase):
    driver = ("drivers.onewire.ds18b20", "DS18B20")
    type: Literal["ds18b20"]
    device_id: Annotated[
        str, Field(pattern=r"^(28|22|42)-[0-9a-f]{12}$")
    ]  # DS18B20, DS1822, DS28EA00
    base_path: str = "/sys/bus/w1/devices"
    gpiopin: Pin = (
        4  # the bus's pin: dtoverlay=w1-gpio,gpiopin=N (default 4); check-config checks it
    )


class DHTConfig(SensorBase):
    """DHT11 / DHT22 / AM2302 through the kernel's dht11 IIO driver (dtoverlay=dht11,gpiopin=N)."""

    driver = ("drivers.gpio.dht", "DHT")
    type: Literal["dht11", "dht22", "am2302"]
    interval: Annotated[float, Field(ge=2, le=86_400)] = 30.0  # the sensor needs 2 s between reads
    iio_device: Annotated[str, Field(pattern=r"^iio:device[0-9]+$")] | None = (
        None  # default: the only dht11
    )
    base_path: str = "/sys/bus/iio/devices"
    gpiopin: Pin = 4  # the data pin: dtoverlay=dht11,gpiopin=N (default 4); check-config checks it


# --- serial --------------------------------------------------------------------------------------


class SerialSensor(SensorBase):
    port: Annotated[str, Field(min_length=1)]  # /dev/ttyUSB0, /dev/serial0, or a pyserial URL
    baudrate: Annotated[int, Field(gt=0, le=4_000_000)] = 9600


class NMEAConfig(SerialSensor):
    driver = ("drivers.serial.nmea", "NmeaGps")
    option_names = {"listen_time": "timeout"}
    type: Literal["nmea"]
    listen_time: PositiveFloat = 3.0  # seconds to collect a GGA (and RMC) per read
    require_rmc: bool = True


class PMS5003Config(SerialSensor):
    driver = ("drivers.serial.pms5003", "Pms5003")
    option_names = {"listen_time": "timeout"}
    type: Literal["pms5003"]
    mode: Literal["active", "passive"] = "active"
    listen_time: PositiveFloat = 3.0  # seconds to wait for a frame per read


class MhZ19BConfig(SerialSensor):
    driver = ("drivers.serial.mhz19", "MhZ19B")
    option_names = {"response_timeout": "timeout"}
    type: Literal["mhz19b"]
    self_calibration: bool = True  # ABC: needs fresh air (400 ppm) once a day
    detection_range: Literal[2000, 5000, 10000] = 5000  # ppm
    response_timeout: PositiveFloat = 1.0  # seconds to wait for the answer


class Sds011Config(SerialSensor):
    driver = ("drivers.serial.sds011", "Sds011")
    option_names = {"response_timeout": "timeout"}
    type: Literal["sds011"]
    interval: Annotated[float, Field(ge=1, le=86_400)] = 60.0
    sleep_between_reads: bool = False  # laser and fan off between reads (longer life)
    warmup: Annotated[float, Field(ge=0, le=120)] = 30.0  # with sleep_between_reads: fan settling
    response_timeout: PositiveFloat = 2.0

    @model_validator(mode="after")
    def _check_warmup(self) -> Sds011Config:
        if self.sleep_between_reads and self.timeout <= self.warmup + 3 * self.response_timeout:
            raise ValueError(
                f"sensor {self.name!r}: with sleep_between_reads a read takes warmup + "
                f"3 exchanges: timeout must exceed "
                f"{self.warmup + 3 * self.response_timeout:g} s"
            )
        if self.sleep_between_reads and self.interval < self.warmup * 2:
            raise ValueError(
                f"sensor {self.name!r}: sleep_between_reads pays only when interval is "
                f"at least twice the warmup ({self.warmup * 2:g} s)"
            )
        return self


class SenseairS8Config(SerialSensor):
    driver = ("drivers.serial.senseair_s8", "SenseairS8")
    option_names = {"response_timeout": "timeout"}
    type: Literal["senseair_s8"]
    slave: Annotated[int, Field(ge=1, le=254)] = 0xFE  # 0xFE: "any sensor", one per port
    abc_period: Annotated[int, Field(ge=0, le=0xFFFF)] = 180  # hours, 0 = ABC off
    response_timeout: PositiveFloat = 1.0


class ModbusRegister(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, Field(pattern=QUANTITY_PATTERN.pattern)]  # the quantity
    address: Annotated[int, BeforeValidator(_parse_int), Field(ge=0, le=0xFFFF)]
    type: Literal["int16", "uint16", "int32", "uint32", "float32"] = "uint16"
    table: Literal["holding", "input"] = "holding"
    unit: str = ""
    scale: float = 1.0
    offset: float = 0.0
    word_order: Literal["big", "little"] = "big"


class ModbusRTUConfig(SerialSensor):
    driver = ("drivers.serial.modbus_rtu", "ModbusRtu")
    option_names = {"response_timeout": "timeout"}
    type: Literal["modbus_rtu"]
    slave: Annotated[int, Field(ge=1, le=247)]
    registers: Annotated[list[ModbusRegister], Field(min_length=1)]
    response_timeout: PositiveFloat = 1.0  # seconds per request


class SerialLineConfig(SerialSensor):
    """A device that prints text lines; a regex with named groups picks the quantities."""

    driver = ("drivers.serial.line", "LineDevice")
    option_names = {"listen_time": "timeout"}
    type: Literal["serial_line"]
    pattern: Annotated[str, Field(min_length=1)]  # e.g. 'T=(?P<temperature>-?\d+\.\d+)'
    units: dict[str, str]  # named group -> unit ("" for none)
    command: str | None = None  # sent before each read (polled devices)
    encoding: str = "ascii"
    listen_time: PositiveFloat = 2.0  # seconds to wait for a matching line


# --- GPIO ----------------------------------------------------------------------------------------


class GPIOPinSensor(SensorBase):
    """A sensor on GPIO pins: the registry hands its driver the gateway's pin factory."""

    pin: Pin  # BCM number


class GPIOSensor(GPIOPinSensor):
    pull: Literal["up", "down", "none"] = "up"
    active_low: bool | None = None  # default: true with pull = "up"
    bounce_time: Annotated[float, Field(gt=0, le=10)] | None = None


class GPIOInputConfig(GPIOSensor):
    driver = ("drivers.gpio.inputs", "DigitalInput")
    type: Literal["gpio_input"]
    kind: Literal["contact", "reed", "button", "pir"] = "contact"
    interval: Annotated[float, Field(ge=0.1, le=86_400)] = 60.0  # the poll; changes are events
    on_change: bool = True


class PersistedCount(SensorBase):
    """A sensor whose driver keeps a count (`count`, `restore()`) the scheduler can save."""

    persist: bool = False  # keep the count across restarts (state_dir)
    persist_interval: Annotated[float, Field(ge=10, le=86_400)] = 300.0  # save at most this often

    @model_validator(mode="after")
    def _check_persist(self) -> PersistedCount:
        if "persist_interval" in self.model_fields_set and not self.persist:
            raise ValueError(
                f"sensor {self.name!r}: persist_interval applies only with persist = true"
            )
        return self


class PulseCounterConfig(GPIOSensor, PersistedCount):
    driver = ("drivers.gpio.pulse", "PulseCounter")
    type: Literal["pulse_counter"]
    factor: PositiveFloat = 1.0  # units of total per pulse
    total_quantity: str = "total"
    total_unit: str = ""
    rate_quantity: str = "rate"
    rate_unit: str = "/s"
    rate_per: PositiveFloat = 1.0  # seconds: 60 = per minute, 3600 = per hour


class HX711Config(GPIOPinSensor):
    """HX711 load-cell ADC: `pin` is DOUT, `clock_pin` PD_SCK."""

    driver = ("drivers.gpio.hx711", "HX711")
    type: Literal["hx711"]
    clock_pin: Pin
    channel: Literal["A", "B"] = "A"
    gain: Literal[128, 64, 32] = 128  # A: 128 or 64; B: 32
    samples: Annotated[int, Field(ge=1, le=15)] = 3  # conversions per read, median
    offset: float = 0.0  # raw code with nothing on the scale (tare)
    scale: float = 1.0  # raw counts per unit (calibrate with a known weight)
    unit: str = "g"

    @model_validator(mode="after")
    def _check(self) -> HX711Config:
        if (self.channel, self.gain) not in (("A", 128), ("A", 64), ("B", 32)):
            raise ValueError(
                f"sensor {self.name!r}: channel {self.channel} cannot have gain {self.gain} "
                f"(A: 128 or 64, B: 32)"
            )
        if self.clock_pin == self.pin:
            raise ValueError(f"sensor {self.name!r}: pin (DOUT) and clock_pin must differ")
        if self.scale == 0:
            raise ValueError(f"sensor {self.name!r}: scale must not be 0")
        return self


class RotaryEncoderConfig(GPIOPinSensor, PersistedCount):
    """A quadrature encoder: `pin` is contact A (CLK on a KY-040), `pin_b` contact B (DT)."""

    driver = ("drivers.gpio.encoder", "RotaryEncoder")
    type: Literal["rotary_encoder"]
    pin_b: Pin
    bounce_time: Annotated[float, Field(gt=0, le=0.1)] | None = None
    interval: Annotated[float, Field(ge=0.1, le=86_400)] = 60.0  # the poll; each step is an event
    on_change: bool = True

    @model_validator(mode="after")
    def _check_pins(self) -> RotaryEncoderConfig:
        if self.pin_b == self.pin:
            raise ValueError(f"sensor {self.name!r}: pin (A) and pin_b must differ")
        return self


class HCSR04Config(GPIOPinSensor):
    """HC-SR04 ultrasonic distance: `pin` is ECHO (through a 5 V -> 3.3 V divider), `trigger_pin` TRIG."""

    driver = ("drivers.gpio.hcsr04", "HCSR04")
    type: Literal["hcsr04"]
    trigger_pin: Pin
    samples: Annotated[int, Field(ge=1, le=15)] = 3  # pings per read, median
    max_distance: Annotated[float, Field(gt=0.02, le=4.0)] = 4.0  # metres
    temperature: Annotated[float, Field(ge=-40, le=60)] = 20.0  # °C of the air: speed of sound

    @model_validator(mode="after")
    def _check_pins(self) -> HCSR04Config:
        if self.trigger_pin == self.pin:
            raise ValueError(f"sensor {self.name!r}: pin (ECHO) and trigger_pin must differ")
        return self


# --- simulated -----------------------------------------------------------------------------------


class SimulatedConfig(SensorBase):
    driver = ("drivers.simulated", "Simulated")
    type: Literal["simulated"]
    quantities: Annotated[list[str], Field(min_length=1)] = ["temperature"]
    seed: int | None = None
    error_rate: Annotated[float, Field(ge=0, le=1)] = 0.0
    hang_rate: Annotated[float, Field(ge=0, le=1)] = 0.0
    hang_seconds: PositiveFloat = 60.0
    fail_first: Annotated[int, Field(ge=0)] = 0


SensorConfig = Annotated[
    BME280Config
    | SHT3xConfig
    | SHT4xConfig
    | BH1750Config
    | ADS1115Config
    | INA219Config
    | BMP180Config
    | AHTConfig
    | HTU21DConfig
    | LM75Config
    | MCP9808Config
    | SCD4xConfig
    | VL53L0XConfig
    | VL53L1XConfig
    | INA226Config
    | INA260Config
    | SCD30Config
    | MhZ19BConfig
    | Sds011Config
    | SenseairS8Config
    | MCP3008Config
    | MCP3208Config
    | MAX31855Config
    | MAX31865Config
    | DHTConfig
    | HCSR04Config
    | RotaryEncoderConfig
    | HX711Config
    | VEML7700Config
    | TSL2561Config
    | SGP40Config
    | SGP30Config
    | BME680Config
    | BMP388Config
    | TSL2591Config
    | I2CRegisterConfig
    | DS18B20Config
    | NMEAConfig
    | PMS5003Config
    | ModbusRTUConfig
    | SerialLineConfig
    | GPIOInputConfig
    | PulseCounterConfig
    | SimulatedConfig,
    Field(discriminator="type"),
]

#: fields that are not driver options: the common ones, the bus seams the registry opens, and what
#: the scheduler does itself (pulse counters' persistence, gas sensors' compensation)
NON_DRIVER_FIELDS = frozenset(SensorBase.model_fields) | {
    "type",
    "bus",
    "port",
    "baudrate",
    "persist",
    "persist_interval",
    "chip_select",
    "compensation_sensor",
    "gpiopin",
}


def check_sensor_list(sensors: Sequence[SensorBase]) -> Sequence[SensorBase]:
    """Names and state topics must be unique across the list (they key topics and unique_ids)."""
    seen_names: set[str] = set()
    seen_topics: dict[str, str] = {}
    for sensor in sensors:
        if sensor.name in seen_names:
            raise ValueError(f"sensor name {sensor.name!r} is used twice")
        seen_names.add(sensor.name)
        if sensor.topic is not None:
            if sensor.topic in seen_topics:
                raise ValueError(
                    f"sensors {seen_topics[sensor.topic]!r} and {sensor.name!r} "
                    f"share the topic {sensor.topic!r}"
                )
            seen_topics[sensor.topic] = sensor.name
    return sensors


#: what the gateway config declares: `sensors: SensorList = ()`
SensorList = Annotated[tuple[SensorConfig, ...], AfterValidator(check_sensor_list)]


class HomeAssistantConfig(BaseModel):
    """`[homeassistant]`: MQTT discovery of the sensors, relays and the gateway's diagnostics."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    discovery: bool = True
    prefix: Annotated[str, AfterValidator(_check_topic)] = "homeassistant"
    node_id: Annotated[str, Field(pattern=NAME_PATTERN)] | None = None  # default: [gateway] id
    device_name: str | None = None  # default: "Pi Edge Gateway <node_id>"
