// Errors of schedules: bad patterns, zones and options are terminal (fix the input).

/** A schedule that cannot be used as given: names the field. Terminal. */
export class ScheduleError extends Error {
  override name = 'ScheduleError';
  readonly retryable = false;
  /** The field at fault (`cron`, `tz`, `catchUp`, `jitterMs`, `target.tasks[1]`, …). */
  readonly field: string;
  constructor(field: string, message: string, options?: ErrorOptions) {
    super(`${field}: ${message}`, options);
    this.field = field;
  }
}
