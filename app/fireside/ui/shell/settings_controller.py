"""The user's settings as the window holds them: the file's values, the policy over them, and
saving only what the person changed (so a policy-forced value never overwrites their choice)."""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from fireside.core.admin.policy import Policy
from fireside.core.config.settings import (
    Settings,
    apply_user_changes,
    effective_settings,
    load_settings,
    save_settings,
)
from fireside.ui import wording
from fireside.ui.shell.notifier import Notifier

log = logging.getLogger(__name__)


class SettingsController(QObject):
    changed = Signal(object)  # the effective Settings after a change

    def __init__(self, path: Path, policy: Policy, notifier: Notifier,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.path = path
        self.policy = policy
        self._notifier = notifier
        self._user = load_settings(path)  # what the file holds
        self._settings = effective_settings(self._user, policy)

    @property
    def settings(self) -> Settings:
        """What is in force: the user's choices with the organisation's policy over them."""
        return self._settings

    def update(self, settings: Settings) -> None:
        """Take an edited copy of the effective settings; save only what the user changed."""
        user = apply_user_changes(self._user, self._settings, settings)
        if user == self._user:
            return
        self._user = user
        self._settings = effective_settings(user, self.policy)
        try:
            save_settings(user, self.path)
        except OSError as exc:
            log.warning("Saving settings to %s failed: %s", self.path, exc)
            self._notifier.error(wording.SETTINGS_SAVE_FAILED, str(exc))
        self.changed.emit(self._settings)
