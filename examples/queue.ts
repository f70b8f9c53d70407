// The queue every example uses. REDIS_URL unset means redis://127.0.0.1:6379.
import { Queue } from 'delayed-queue';

export const queue = new Queue({ name: 'default', redis: process.env.REDIS_URL, defaultTimeoutMs: 60_000 });
