/**
 * Where workers and sweepers write what happens. The shape is pino's `(fields, message)`, so a pino logger
 * can be passed as it is; the default writes warnings and errors to stderr as one line each.
 */
export interface Logger {
  debug(fields: object, message: string): void;
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

/** A logger that writes `time level message {fields}` lines to stderr, from `level` up. */
export function consoleLogger(level: LogLevel = 'warn'): Logger {
  const write = (at: Exclude<LogLevel, 'silent'>) => (fields: object, message: string) => {
    if (ORDER[at] < ORDER[level]) return;
    const extra = Object.keys(fields).length > 0 ? ` ${JSON.stringify(fields, errorFields)}` : '';
    process.stderr.write(`${new Date().toISOString()} ${at.toUpperCase()} ${message}${extra}\n`);
  };
  return { debug: write('debug'), info: write('info'), warn: write('warn'), error: write('error') };
}

function errorFields(_key: string, value: unknown): unknown {
  return value instanceof Error ? { name: value.name, message: value.message } : value;
}
