"""The startup banner: where to point a browser, whom to sign in as, what runs where."""

from __future__ import annotations

from incident_devmode.bootstrap import DevSystem
from incident_devmode.demo import DEMO_USERS, PROJECT_NAME


def banner(system: DevSystem, elapsed_seconds: float) -> str:
    url = system.settings.url
    modes = system.modes
    lines = [
        "",
        "=" * 72,
        f"  Incident notifications, dev mode: ready in {elapsed_seconds:.1f} s",
        "",
        f"  Web console      {url}/",
        f"  API              {url}/api/   (docs: {url}/api/docs)",
        f"  WebSocket        {url.replace('http', 'ws', 1)}/ws/notifications/?token=<access>",
        "",
    ]
    if system.settings.demo_data:
        lines.append(f"  Demo users (project '{PROJECT_NAME}'):")
        for user in DEMO_USERS:
            lines.append(
                f"    {user.username:<8} password {user.password:<12} "
                f"{user.role.value:<10} {user.full_name}"
            )
        lines.append("")
        lines.append("  First: open the console in two windows, sign in as carol (client) and")
        lines.append("  admin, create a ticket as carol and watch it arrive in the admin window.")
        lines.append("")
    lines += [
        f"  Broker           {modes.broker}",
        f"  Presence/routing {modes.presence}",
        f"  Tickets DB       {modes.tickets_database}",
        f"  Notifier DB      {modes.notifier_database}",
        "",
        "  Ctrl-C stops.",
        "=" * 72,
        "",
    ]
    return "\n".join(lines)
