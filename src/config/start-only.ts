/**
 * Settings the arbiter reads only at start (`startOnly` in the settings table): its admin endpoints. A HUP keeps
 * their running values (new workers get them too, so a worker never reports
 * to a StatsD or /metrics the arbiter does not serve); a restart or a USR2
 * upgrade applies a change.
 */
import type { Logger } from '../log/logger.js';
import { SETTING_KEYS, type SettingKey, type Settings, flagOf, settingSpec } from './settings.js';

const START_ONLY: readonly SettingKey[] = SETTING_KEYS.filter((key) => settingSpec(key).startOnly);

/** Puts the running values of START_ONLY settings into `next`, warning about each one a HUP tried to change. */
export function keepStartOnlySettings(running: Settings, next: Settings, log: Logger): void {
  const values = next as Record<SettingKey, unknown>;
  for (const key of START_ONLY) {
    if (values[key] === running[key]) continue;
    const show = settingSpec(key).kind.show as (v: unknown) => string;
    log.warning(
      `Reload: ${flagOf(key)} changed to ${show(values[key])}; it is read only at start (restart or USR2 to apply)`,
    );
    values[key] = running[key];
  }
}
