#!/usr/bin/env node
/**
 * The `delayed` command: run workers and sweepers, enqueue from scripts, watch a queue, run the demo.
 * Thin by design: each command (one file each in src/cli/) parses arguments with node:util's parseArgs and
 * calls the package's public API. This file finds the command, prints the help, maps parseArgs errors to
 * messages with a suggestion, and sets the exit code.
 *
 * Exit codes: 0 done; 1 failed (e.g. the demo lost tasks, a metrics port was taken); 2 bad usage (unknown
 * subcommand or option, bad value, bad Redis URL); 3 Redis unreachable (or no redis-server for the demo);
 * 4 a tasks module did not load or defines no task.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { CommandError, EXIT, write, type Command, type Values } from './args.ts';
import { dashboard } from './dashboard.ts';
import { dead } from './dead.ts';
import { pause, resume } from './pause.ts';
import { demo } from './demo.ts';
import { enqueue } from './enqueue.ts';
import { schedules } from './schedules.ts';
import { status } from './status.ts';
import { sweeper } from './sweeper.ts';
import { cancel, task } from './task.ts';
import { worker } from './worker.ts';

const COMMANDS: Record<string, Command> = {
  worker,
  sweeper,
  status,
  enqueue,
  task,
  cancel,
  dead,
  pause,
  resume,
  schedules,
  demo,
  dashboard,
};

function version(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

function mainHelp(): string {
  const names = Object.keys(COMMANDS);
  const width = Math.max(...names.map((n) => n.length));
  return `delayed ${version()}: a task queue for Node.js on Redis

Usage: delayed <command> [options]

Commands:
${names.map((n) => `  ${n.padEnd(width)}  ${(COMMANDS[n] as Command).summary}`).join('\n')}

Run \`delayed <command> --help\` for a command's options.
Environment: REDIS_URL (default Redis), DELAYED_QUEUE (default --queue).
Exit codes: 0 done, 1 failed, 2 bad usage, 3 Redis unreachable, 4 a tasks module did not load.
`;
}

/** The closest of `choices` to `word`, if it is close enough to be a likely typo. */
function suggest(word: string, choices: readonly string[]): string | undefined {
  const distance = (a: string, b: string): number => {
    const row = Array.from({ length: b.length + 1 }, (_, i) => i);
    for (let i = 1; i <= a.length; i++) {
      let prev = row[0] as number;
      row[0] = i;
      for (let j = 1; j <= b.length; j++) {
        const current = row[j] as number;
        row[j] = Math.min((row[j] as number) + 1, (row[j - 1] as number) + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
        prev = current;
      }
    }
    return row[b.length] as number;
  };
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const choice of choices) {
    const d = distance(word, choice);
    if (d < bestDistance) {
      best = choice;
      bestDistance = d;
    }
  }
  return best !== undefined && bestDistance <= Math.max(1, Math.floor(word.length / 3)) ? best : undefined;
}

function parseError(name: string, command: Command, err: Error & { code?: string }): CommandError {
  const help = `Run \`delayed ${name} --help\` for the options.`;
  if (err.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    const option = /'([^']+)'/.exec(err.message)?.[1] ?? '?';
    const bare = option.replace(/^-+/, '').split('=')[0] ?? '';
    const close = suggest(bare, Object.keys(command.options));
    return new CommandError(`${name}: unknown option ${option}${close ? ` (did you mean --${close}?)` : ''}`, EXIT.usage, help);
  }
  if (err.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    const option = /'(-[^' ]+)/.exec(err.message)?.[1];
    return new CommandError(`${name}: ${option ? `${option} needs a value` : err.message}`, EXIT.usage, help);
  }
  if (err.code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') {
    const word = /'([^']+)'/.exec(err.message)?.[1] ?? '?';
    return new CommandError(`${name}: unexpected argument ${JSON.stringify(word)}`, EXIT.usage, help);
  }
  return new CommandError(`${name}: ${err.message}`, EXIT.usage, help);
}

async function main(argv: string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined || first === '-h' || first === '--help') {
    write(mainHelp());
    return first === undefined ? EXIT.usage : EXIT.ok;
  }
  if (first === '--version' || first === '-v' || first === 'version') {
    write(`${version()}\n`);
    return EXIT.ok;
  }
  if (first === 'help') {
    const topic = rest[0];
    const command = topic === undefined ? undefined : COMMANDS[topic];
    if (topic !== undefined && !command) throw unknownCommand(topic);
    write(command ? `${command.usage}\n` : mainHelp());
    return EXIT.ok;
  }
  const command = COMMANDS[first];
  if (!command) throw unknownCommand(first);
  if (rest.includes('--help') || rest.includes('-h')) {
    write(`${command.usage}\n`);
    return EXIT.ok;
  }
  let parsed: { values: Values; positionals: string[] };
  try {
    parsed = parseArgs({
      args: rest,
      options: command.options,
      strict: true,
      allowPositionals: (command.positionals ?? 0) > 0,
    }) as typeof parsed;
  } catch (err) {
    throw parseError(first, command, err as Error & { code?: string });
  }
  if (parsed.positionals.length > (command.positionals ?? 0)) {
    throw new CommandError(
      `${first}: unexpected argument ${JSON.stringify(parsed.positionals[command.positionals ?? 0])}`,
      EXIT.usage,
      `Run \`delayed ${first} --help\` for the usage.`,
    );
  }
  return await command.run(parsed.values, parsed.positionals);
}

function unknownCommand(word: string): CommandError {
  const close = suggest(word, Object.keys(COMMANDS));
  return new CommandError(
    `unknown command ${JSON.stringify(word)}${close ? ` (did you mean ${close}?)` : ''}`,
    EXIT.usage,
    `The commands are: ${Object.keys(COMMANDS).join(', ')}. Run \`delayed --help\` for more.`,
  );
}

function exit(code: number): void {
  // Let what was written reach the pipe or terminal, then end (open handles must not keep the command alive).
  process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
}

main(process.argv.slice(2)).then(exit, (err: unknown) => {
  if (err instanceof CommandError) {
    process.stderr.write(`delayed: ${err.message}\n${err.hint ? `${err.hint}\n` : ''}`);
    exit(err.exitCode);
  } else {
    process.stderr.write(`delayed: unexpected error: ${(err as Error)?.stack ?? String(err)}\n`);
    exit(EXIT.failed);
  }
});
