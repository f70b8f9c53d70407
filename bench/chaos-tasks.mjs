// delayed-queue's task module for the chaos benchmark (bench/chaos.ts): the shared body in bench/chaos-work.mjs.
import { defineTask, taskContext } from 'delayed-queue/task';
import { work } from './chaos-work.mjs';

export const chaosWork = defineTask('chaos-work', (data) => work(data, taskContext().attempt));
