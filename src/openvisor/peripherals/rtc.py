"""The STM32U585 real-time clock (RM0456, RTC chapter): calendar, wake-up timer and alarm A.

RTCCLK is the LSE at 32.768 kHz, counted from virtual time. The calendar
runs at ck_spre = RTCCLK / ((PREDIV_A + 1) x (PREDIV_S + 1)), 1 Hz with the
reset prescalers. The RTC sits in the backup domain: a system reset (an app
restart) keeps its registers and its counting, and only :meth:`Rtc.power_on`
(a backup-domain reset) restores reset values. Writes need PWR_DBPR.DBP set
and, for the protected registers, the RTC_WPR key sequence 0xCA, 0x53.

Time the core does not run (deep sleep, a restart back-off) reaches the RTC
through :meth:`Rtc.elapse`, so the calendar and the wake-up timer count it.

Not modelled: binary and mixed modes (ICSR.BIN), alarm B matching, the
smooth calibration (CALR) and shift (SHIFTR) effects, time stamps and the
RTC outputs. Alarm A ignores ALRMASSR and fires at the second boundary.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, ClassVar

from openvisor.peripherals import calendar
from openvisor.peripherals.base import Cancellable, Host, Peripheral

log = logging.getLogger(__name__)

LSE_HZ = 32_768
RTC_IRQ = 2
"""RTC_IRQn of the STM32U585 (the non-secure RTC interrupt)."""
ALARM_SEARCH_LIMIT_S = 62 * calendar.SECONDS_PER_DAY
MAX_WUT_PERIOD_TICKS = 128 * 32_768 * (0xFFFF + 0x1_0000 + 1)
"""Longest wake-up period in RTCCLK ticks: maximum prescalers, WUCKSEL 6 and WUT 0xFFFF."""

TR = 0x00
DR = 0x04
SSR = 0x08
ICSR = 0x0C
PRER = 0x10
WUTR = 0x14
CR = 0x18
PRIVCFGR = 0x1C
SECCFGR = 0x20
WPR = 0x24
CALR = 0x28
SHIFTR = 0x2C
ALRMAR = 0x40
ALRMASSR = 0x44
ALRMBR = 0x48
ALRMBSSR = 0x4C
SR = 0x50
MISR = 0x54
SCR = 0x5C

ICSR_WUTWF = 1 << 2
ICSR_INITS = 1 << 4
ICSR_RSF = 1 << 5
ICSR_INITF = 1 << 6
ICSR_INIT = 1 << 7
ICSR_WRITABLE = ICSR_INIT | (0x3 << 8) | (0x7 << 10)  # INIT, BIN, BCDU

CR_WUCKSEL = 0x7
CR_ALRAE = 1 << 8
CR_WUTE = 1 << 10
CR_ALRAIE = 1 << 12
CR_ALRBIE = 1 << 13
CR_WUTIE = 1 << 14

SR_ALRAF = 1 << 0
SR_ALRBF = 1 << 1
SR_WUTF = 1 << 2
SR_FLAGS = 0x7F

WPR_KEY1 = 0xCA
WPR_KEY2 = 0x53

WRITE_MASKS = {TR: 0x007F_7F7F, DR: 0x00FF_FF3F, PRER: 0x007F_7FFF}

# Registers that RTC_WPR protects. SCR and WPR itself are always writable.
PROTECTED = frozenset(
    {
        TR,
        DR,
        ICSR,
        PRER,
        WUTR,
        CR,
        PRIVCFGR,
        SECCFGR,
        CALR,
        SHIFTR,
        ALRMAR,
        ALRMASSR,
        ALRMBR,
        ALRMBSSR,
    }
)


class Rtc(Peripheral):
    """The RTC at its non-secure alias, with the wake-up timer and alarm A interrupts."""

    REGISTERS: ClassVar[dict[int, str]] = {
        TR: "TR",
        DR: "DR",
        SSR: "SSR",
        ICSR: "ICSR",
        PRER: "PRER",
        WUTR: "WUTR",
        CR: "CR",
        PRIVCFGR: "PRIVCFGR",
        SECCFGR: "SECCFGR",
        WPR: "WPR",
        CALR: "CALR",
        SHIFTR: "SHIFTR",
        ALRMAR: "ALRMAR",
        ALRMASSR: "ALRMASSR",
        ALRMBR: "ALRMBR",
        ALRMBSSR: "ALRMBSSR",
        SR: "SR",
        MISR: "MISR",
        SCR: "SCR",
    }
    RESET_VALUES: ClassVar[dict[int, int]] = {
        DR: 0x0000_2101,  # 2000-01-01, weekday 1 (Monday)
        PRER: 0x007F_00FF,  # PREDIV_A = 127, PREDIV_S = 255: ck_spre = 1 Hz
        WUTR: 0x0000_FFFF,
    }

    def __init__(
        self,
        name: str,
        base: int,
        host: Host,
        *,
        irqn: int = RTC_IRQ,
        backup_writable: Callable[[], bool] = lambda: True,
    ) -> None:
        self.irqn = irqn
        self.backup_writable = backup_writable
        """Callable that returns whether backup-domain writes are enabled (PWR_DBPR.DBP)."""
        self.idle_cycles = 0
        """Virtual cycles that passed while the core did not run (see :meth:`elapse`)."""
        self._powered = False
        self._wut_event: Cancellable | None = None
        self._alarm_event: Cancellable | None = None
        self._rejected: set[tuple[int, str]] = set()
        super().__init__(name, base, host)

    # Power and reset.

    def reset(self) -> None:
        """Apply a system reset: the RTC keeps its registers and keeps counting.

        The first call (from the constructor) is the backup-domain power-on. A
        flag whose interrupt is enabled pends the RTC interrupt again, because the
        RTC keeps its interrupt line asserted until the app clears the flag.
        """
        if not self._powered:
            self.power_on(None)
            return
        self._unlock_stage = 0
        self._reschedule()
        self._raise_interrupt()

    def power_on(self, unix_seconds: int | None) -> None:
        """Reset the backup domain and start the calendar at ``unix_seconds`` (UTC).

        With None the calendar starts at the reset date, 2000-01-01 00:00:00,
        whose year 00 leaves ICSR.INITS clear (calendar not initialized).
        """
        self._cancel_events()
        super().reset()
        self._powered = True
        self._unlock_stage = 0
        self._wut_next_tick: int | None = None
        self._alarm_second: int | None = None
        self._frozen = False
        self._anchor_tick = 0
        self._anchor_apre = 0
        if unix_seconds is None:
            seconds = 0
            # The reset value of DR names weekday 1 (Monday) for 2000-01-01, a Saturday.
            self._weekday_offset = (1 - calendar.EPOCH_2000.isoweekday()) % 7
        else:
            seconds = max(0, unix_seconds - calendar.UNIX_2000_S)
            self._weekday_offset = 0
        self._start_calendar(seconds * self._prediv_s())

    def set_calendar(self, unix_seconds: int) -> bool:
        """Set the calendar to ``unix_seconds`` (UTC) if it still shows the reset year 00.

        Return whether it changed. A calendar the app initialized, or one in
        initialization mode, is left alone.
        """
        if self._frozen or (self.read_register(DR) >> 16) & 0xFF:
            return False
        self._weekday_offset = 0
        seconds = max(0, unix_seconds - calendar.UNIX_2000_S)
        self._start_calendar(seconds * self._prediv_s())
        return True

    # Time.

    def _ticks(self) -> int:
        """RTCCLK ticks since power-on of the machine, idle time included."""
        # NOTE: the LSE counts whether or not the app set RCC_BDCR.LSEON and RTCEN.
        return (self.host.cycles + self.idle_cycles) * LSE_HZ // self.host.clock_hz

    def _cycle_of_tick(self, tick: int) -> int:
        """Return the machine cycle at which the RTCCLK count reaches ``tick``."""
        return -(-tick * self.host.clock_hz // LSE_HZ) - self.idle_cycles

    def _prediv_a(self) -> int:
        return ((self.registers[PRER] >> 16) & 0x7F) + 1

    def _prediv_s(self) -> int:
        return (self.registers[PRER] & 0x7FFF) + 1

    def _calendar_apre(self) -> int:
        """Calendar time in ck_apre ticks since 2000-01-01."""
        if self._frozen:
            return self._anchor_apre
        return self._anchor_apre + (self._ticks() - self._anchor_tick) // self._prediv_a()

    def calendar_seconds(self) -> int:
        """Return the calendar time in whole seconds since 2000-01-01 00:00:00."""
        return self._calendar_apre() // self._prediv_s()

    def _weekday(self, seconds: int) -> int:
        iso = calendar.datetime_at(seconds).isoweekday()
        return (iso - 1 + self._weekday_offset) % 7 + 1

    def _start_calendar(self, apre: int) -> None:
        self._anchor_tick = self._ticks()
        self._anchor_apre = apre
        self._frozen = False
        self._find_next_alarm()
        self._reschedule()

    def elapse(self, micros: int) -> None:
        """Count ``micros`` of virtual time that passed while the core did not run."""
        if micros <= 0:
            return
        self.idle_cycles += micros * self.host.clock_hz // 1_000_000
        self._catch_up()
        self._reschedule()

    def next_wake_us(self) -> int | None:
        """Return the µs until the next RTC event that can wake the device, or None.

        The wake-up timer wakes when CR.WUTE and CR.WUTIE are set, alarm A when
        CR.ALRAE and CR.ALRAIE are set. A flag already set with its interrupt
        enabled wakes at once (0).
        """
        control = self.registers[CR]
        if self._interrupt_active():
            return 0
        ticks: list[int] = []
        if control & CR_WUTE and control & CR_WUTIE and self._wut_next_tick is not None:
            ticks.append(self._wut_next_tick)
        if control & CR_ALRAE and control & CR_ALRAIE:
            alarm_tick = self._alarm_tick()
            if alarm_tick is not None:
                ticks.append(alarm_tick)
        if not ticks:
            return None
        remaining = max(0, min(ticks) - self._ticks())
        return -(-remaining * 1_000_000 // LSE_HZ)

    # Scheduled events.

    def _wut_period_ticks(self) -> int:
        """Wake-up period in RTCCLK ticks for CR.WUCKSEL and WUTR.WUT."""
        wut = self.registers[WUTR] & 0xFFFF
        select = self.registers[CR] & CR_WUCKSEL
        if select < 4:
            return (16 >> select) * (wut + 1)  # RTCCLK/16, /8, /4, /2
        spre_ticks = self._prediv_a() * self._prediv_s()
        if select < 6:
            return spre_ticks * (wut + 1)
        return spre_ticks * (wut + 0x1_0000 + 1)

    def _alarm_tick(self) -> int | None:
        if self._alarm_second is None or self._frozen:
            return None
        target_apre = self._alarm_second * self._prediv_s()
        return self._anchor_tick + (target_apre - self._anchor_apre) * self._prediv_a()

    def _find_next_alarm(self) -> None:
        if not self.registers[CR] & CR_ALRAE or self._frozen:
            self._alarm_second = None
            return
        self._alarm_second = calendar.next_alarm_second(
            self.registers[ALRMAR], self.calendar_seconds(), self._weekday, ALARM_SEARCH_LIMIT_S
        )

    def _cancel_events(self) -> None:
        for event in (getattr(self, "_wut_event", None), getattr(self, "_alarm_event", None)):
            if event is not None:
                event.cancel()
        self._wut_event = None
        self._alarm_event = None

    def _reschedule(self) -> None:
        self._cancel_events()
        if self._wut_next_tick is not None:
            cycle = self._cycle_of_tick(self._wut_next_tick)
            self._wut_event = self.host.schedule(cycle, self._on_event)
        alarm_tick = self._alarm_tick()
        if alarm_tick is not None:
            self._alarm_event = self.host.schedule(self._cycle_of_tick(alarm_tick), self._on_event)

    def _on_event(self) -> None:
        self._catch_up()
        self._reschedule()

    def _catch_up(self) -> None:
        """Set the flags of every wake-up and alarm A event due by now."""
        now = self._ticks()
        raised = False
        if self._wut_next_tick is not None and now >= self._wut_next_tick:
            period = self._wut_period_ticks()
            self._wut_next_tick += ((now - self._wut_next_tick) // period + 1) * period
            self.registers[SR] |= SR_WUTF
            raised = True
        alarm_tick = self._alarm_tick()
        if alarm_tick is not None and now >= alarm_tick:
            self.registers[SR] |= SR_ALRAF
            self._find_next_alarm()
            raised = True
        if raised:
            self._raise_interrupt()

    def _interrupt_active(self) -> bool:
        return bool(self._masked_flags())

    def _masked_flags(self) -> int:
        flags = self.registers[SR]
        control = self.registers[CR]
        masked = 0
        if control & CR_ALRAIE:
            masked |= flags & SR_ALRAF
        if control & CR_ALRBIE:
            masked |= flags & SR_ALRBF
        if control & CR_WUTIE:
            masked |= flags & SR_WUTF
        return masked

    def _raise_interrupt(self) -> None:
        """Drive the level-sensitive RTC line: a flag set with its interrupt enabled."""
        self.host.set_irq_level(self.irqn, self._interrupt_active())

    # Registers.

    def read_register(self, offset: int) -> int:
        """Return the register value. TR, DR and SSR are computed from the calendar."""
        if offset in (TR, DR, SSR) and not self._frozen:
            apre = self._calendar_apre()
            seconds = apre // self._prediv_s()
            if offset == SSR:
                return self._prediv_s() - 1 - apre % self._prediv_s()
            moment = calendar.datetime_at(seconds)
            if offset == TR:
                return calendar.encode_time(moment)
            return calendar.encode_date(moment, self._weekday(seconds))
        if offset == SSR:
            return self._prediv_s() - 1
        if offset == ICSR:
            return self._icsr()
        if offset == MISR:
            return self._masked_flags()
        if offset in (WPR, SCR):
            return 0
        return super().read_register(offset)

    def _icsr(self) -> int:
        value = self.registers[ICSR] & ICSR_WRITABLE
        if self._frozen:
            value |= ICSR_INITF
        else:
            value |= ICSR_RSF
            if not self.registers[CR] & CR_WUTE:
                value |= ICSR_WUTWF
        if self._frozen:
            year_digits = (self.registers[DR] >> 16) & 0xFF
        else:
            year_digits = (self.read_register(DR) >> 16) & 0xFF
        if year_digits:
            value |= ICSR_INITS
        return value

    def write_register(self, offset: int, value: int) -> None:
        """Apply a register write. Protected registers need DBP and the WPR key sequence."""
        if not self.backup_writable():
            self._reject(offset, "backup-domain writes are disabled: set PWR_DBPR.DBP first")
            return
        if offset == WPR:
            self._write_key(value & 0xFF)
            return
        if offset == SCR:
            self.registers[SR] &= ~(value & SR_FLAGS)
            self._raise_interrupt()
            return
        if offset in (SR, MISR, SSR):
            return  # read-only
        if offset in PROTECTED and self._unlock_stage != 2:
            self._reject(offset, "write-protected register: write 0xCA, then 0x53 to RTC_WPR")
            return
        if offset == ICSR:
            self._write_icsr(value)
        elif offset == CR:
            self._write_cr(value)
        elif offset in (TR, DR, PRER):
            if not self._frozen:
                self._reject(offset, "set ICSR.INIT and wait for ICSR.INITF before this write")
                return
            self.registers[offset] = value & WRITE_MASKS[offset]
        elif offset == WUTR:
            if self.registers[CR] & CR_WUTE and not self._frozen:
                self._reject(offset, "clear CR.WUTE and wait for ICSR.WUTWF before this write")
                return
            self.registers[WUTR] = value
        elif offset in (ALRMAR, ALRMASSR):
            if self.registers[CR] & CR_ALRAE and not self._frozen:
                self._reject(offset, "clear CR.ALRAE before changing alarm A")
                return
            self.registers[offset] = value
        else:
            self.registers[offset] = value

    def _write_key(self, key: int) -> None:
        if key == WPR_KEY1:
            self._unlock_stage = 1
        elif key == WPR_KEY2 and self._unlock_stage == 1:
            self._unlock_stage = 2
        else:
            self._unlock_stage = 0

    def _write_icsr(self, value: int) -> None:
        entering = bool(value & ICSR_INIT) and not self._frozen
        leaving = not value & ICSR_INIT and self._frozen
        self.registers[ICSR] = value & ICSR_WRITABLE
        if entering:
            apre = self._calendar_apre()
            seconds = apre // self._prediv_s()
            moment = calendar.datetime_at(seconds)
            self.registers[TR] = calendar.encode_time(moment)
            self.registers[DR] = calendar.encode_date(moment, self._weekday(seconds))
            self._anchor_apre = apre
            self._frozen = True
            self._alarm_second = None
            self._reschedule()
        elif leaving:
            self._leave_init_mode()

    def _leave_init_mode(self) -> None:
        fields = calendar.decode(self.registers[TR], self.registers[DR])
        seconds = calendar.seconds_of(fields)
        if seconds is None or seconds < 0:
            log.warning(
                "Keep RTC calendar: invalid date written (peripheral=%s, tr=%#010x, dr=%#010x)",
                self.name,
                self.registers[TR],
                self.registers[DR],
            )
            seconds = self._anchor_apre // self._prediv_s()
        else:
            iso = calendar.datetime_at(seconds).isoweekday()
            if fields.weekday:
                self._weekday_offset = (fields.weekday - iso) % 7
        self._start_calendar(seconds * self._prediv_s())

    def _write_cr(self, value: int) -> None:
        old = self.registers[CR]
        if old & CR_WUTE and value & CR_WUTE:
            value = (value & ~CR_WUCKSEL) | (old & CR_WUCKSEL)  # WUCKSEL needs WUTWF
        self.registers[CR] = value
        if value & CR_WUTE and not old & CR_WUTE:
            self._wut_next_tick = self._ticks() + self._wut_period_ticks()
        elif not value & CR_WUTE:
            self._wut_next_tick = None
        if (value ^ old) & CR_ALRAE:
            self._find_next_alarm()
        self._reschedule()
        self._raise_interrupt()

    def _reject(self, offset: int, reason: str) -> None:
        key = (offset, reason)
        if key in self._rejected:
            return
        self._rejected.add(key)
        log.warning(
            "Ignore RTC write (peripheral=%s, register=%s, address=%#010x): %s",
            self.name,
            self.REGISTERS.get(offset, hex(offset)),
            self.base + offset,
            reason,
        )

    # Backup-domain persistence.

    def backup_state(self) -> dict[str, Any]:
        """Return the registers and calendar as JSON data for :meth:`restore_backup_state`."""
        next_wake = self._wut_next_tick
        return {
            "registers": {f"{offset:#x}": value for offset, value in self.registers.items()},
            "calendar_apre": self._calendar_apre(),
            "weekday_offset": self._weekday_offset,
            "init_mode": self._frozen,
            "wakeup_in_ticks": None if next_wake is None else max(0, next_wake - self._ticks()),
        }

    def restore_backup_state(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`backup_state` returned, so the calendar carries on from it now.

        Raise ValueError or TypeError, before changing anything, when ``state``
        is not such a value (a damaged state file).

        NOTE: time that passed while no process ran the device is not counted.
        """
        if not isinstance(state, dict):
            raise TypeError(f"backup state must be a JSON object, not {type(state).__name__}")
        registers = {}
        for key, value in dict(state.get("registers", {})).items():
            offset = int(key, 16)
            if offset in self.REGISTERS:
                registers[offset] = int(value) & 0xFFFF_FFFF
        prediv_s = (registers.get(PRER, self.registers[PRER]) & 0x7FFF) + 1
        calendar_apre = _whole_number(state.get("calendar_apre", 0), "calendar_apre")
        if not 0 <= calendar_apre // prediv_s < calendar.MAX_RESTORED_S:
            raise ValueError(
                f"calendar_apre {calendar_apre} is outside 2000-8999 for PREDIV_S {prediv_s - 1}"
            )
        weekday_offset = _whole_number(state.get("weekday_offset", 0), "weekday_offset") % 7
        wakeup_in = state.get("wakeup_in_ticks")
        if wakeup_in is not None:
            wakeup_in = _whole_number(wakeup_in, "wakeup_in_ticks")
            if not 0 <= wakeup_in <= MAX_WUT_PERIOD_TICKS:
                raise ValueError(
                    f"wakeup_in_ticks {wakeup_in} is outside 0-{MAX_WUT_PERIOD_TICKS} ticks"
                )

        self._cancel_events()
        self.registers.update(registers)
        self._weekday_offset = weekday_offset
        self._wut_next_tick = None if wakeup_in is None else self._ticks() + wakeup_in
        self._anchor_tick = self._ticks()
        self._anchor_apre = calendar_apre
        self._frozen = bool(state.get("init_mode", False))
        self._find_next_alarm()
        self._reschedule()
        self._raise_interrupt()


def _whole_number(value: Any, name: str) -> int:
    """Return ``value`` as an int, or raise ValueError for anything but a JSON integer."""
    if isinstance(value, bool) or not isinstance(value, int):
        # ValueError, like every other damage the backup file can have.
        raise ValueError(f"{name} must be an integer, not {value!r}")  # noqa: TRY004
    return value
