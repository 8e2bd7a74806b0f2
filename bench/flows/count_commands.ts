/**
 * Preloaded into a benchmarked server process (`node --import tsx --import ./bench/flows/count_commands.ts …`): turns
 * on the MongoDB driver's command monitoring for every client the process connects and counts the commands it sends
 * (the driver's own — handshakes, heartbeats — left out). The load driver asks for the count over the IPC channel
 * (`'commands'` → `{ commands }`), before and after a measured run.
 */
import { MongoClient } from 'mongodb';
import { DRIVER_COMMANDS } from '../../test/helpers/mongo_commands.ts';

let commands = 0;
const connect = MongoClient.prototype.connect;
MongoClient.prototype.connect = function connectCounted(this: MongoClient) {
  (this as unknown as { monitorCommands: boolean }).monitorCommands = true;
  this.on('commandStarted', (event) => {
    if (!DRIVER_COMMANDS.has(event.commandName)) commands += 1;
  });
  return connect.call(this);
};

process.on('message', (message) => {
  if (message === 'commands') process.send?.({ commands });
});
