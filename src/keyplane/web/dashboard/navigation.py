"""The dashboard's sections, in the order the navigation lists them."""

from __future__ import annotations

from dataclasses import dataclass

DASHBOARD_PATH = "/dashboard"


@dataclass(frozen=True, slots=True)
class Section:
    name: str
    label: str
    path: str


SECTIONS: tuple[Section, ...] = (
    Section("overview", "Overview", DASHBOARD_PATH),
    Section("apis", "APIs & keys", f"{DASHBOARD_PATH}/apis"),
    Section("clients", "OAuth clients", f"{DASHBOARD_PATH}/clients"),
    Section("users", "Users", f"{DASHBOARD_PATH}/users"),
    Section("signing-keys", "Signing keys", f"{DASHBOARD_PATH}/signing-keys"),
    Section("audit", "Audit log", f"{DASHBOARD_PATH}/audit"),
    Section("alerts", "Alerts", f"{DASHBOARD_PATH}/alerts"),
    Section("webhooks", "Webhooks", f"{DASHBOARD_PATH}/webhooks"),
)
