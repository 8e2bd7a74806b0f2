/**
 * Engine-only: start-up options, the dev snapshot file, and the standalone `npm run mongo` process.
 */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import mongoose, { Schema } from 'mongoose';
import { startEngine } from '../../src/store/engine/index.ts';
import { onlyOnEngine } from '../helpers/db.ts';

describe('store engine: lifecycle (engine only)', function () {
  let tmp: string;

  before(function () {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'engine-'));
  });

  after(function () {
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  beforeEach(function () {
    onlyOnEngine(this);
  });

  it('listens on a random loopback port and reports a URI without a database name', async function () {
    const engine = await startEngine();
    try {
      expect(engine.uri).to.equal(`mongodb://127.0.0.1:${engine.port}`);
      expect(engine.port).to.be.greaterThan(0);
    } finally {
      await engine.close();
    }
  });

  it('keeps documents and unique indexes across a restart with a snapshot file', async function () {
    const snapshotFile = path.join(tmp, 'dev.bson');
    const schema = new Schema({ email: { type: String, unique: true }, at: Date });
    const first = await startEngine({ snapshotFile });
    const conn1 = await mongoose.createConnection(`${first.uri}/snap`).asPromise();
    const Users1 = conn1.model('SnapUser', schema);
    await Users1.init();
    await Users1.create([{ email: 'kept@x', at: new Date(42) }, { email: 'also@x' }]);
    await conn1.close();
    await first.close();
    expect(fs.existsSync(snapshotFile)).to.equal(true);

    const second = await startEngine({ snapshotFile });
    const conn2 = await mongoose.createConnection(`${second.uri}/snap`).asPromise();
    try {
      // No autoIndex here: the unique index must come from the snapshot.
      const Users = conn2.model('SnapUser', new Schema({ email: String, at: Date }, { autoIndex: false, autoCreate: false }));
      expect((await Users.listIndexes()).map((i) => i.name)).to.deep.equal(['_id_', 'email_1']);
      const kept = await Users.findOne({ email: 'kept@x' }).lean();
      expect(kept?.at?.getTime()).to.equal(42);
      expect(await Users.countDocuments()).to.equal(2);
      const err = await Users.collection.insertOne({ email: 'kept@x' }).catch((e: unknown) => e as { code?: number });
      expect(err).to.have.property('code', 11000);
    } finally {
      await conn2.close();
      await second.close();
    }
  });

  it('refuses to start when NODE_ENV=production (with or without a snapshot file)', async function () {
    const previous = process.env.NODE_ENV;
    process.env.NODE_ENV = 'production';
    try {
      for (const options of [{}, { snapshotFile: path.join(tmp, 'prod.bson') }]) {
        const err = await startEngine(options).then(async (engine) => { await engine.close(); return undefined; }, (e: unknown) => e as Error);
        expect(err?.message).to.match(/refuses to start with NODE_ENV=production/);
      }
      expect(fs.existsSync(path.join(tmp, 'prod.bson'))).to.equal(false);
    } finally {
      if (previous === undefined) delete process.env.NODE_ENV;
      else process.env.NODE_ENV = previous;
    }
  });

  it('runs standalone: prints its URI, serves mongoose, and stops on SIGTERM', async function () {
    this.timeout(30_000);
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/store/engine/standalone.ts', '--port', '0'], {
      cwd: process.cwd(), env: { ...process.env, NODE_ENV: 'development' }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      const uri = await new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout.on('data', (chunk: Buffer) => {
          out += chunk.toString();
          const match = /mongodb:\/\/127\.0\.0\.1:\d+/.exec(out);
          if (match) resolve(match[0]);
        });
        child.once('exit', (code) => reject(new Error(`standalone exited early with ${code}`)));
      });
      const conn = await mongoose.createConnection(`${uri}/standalone`).asPromise();
      await conn.collection('things').insertOne({ a: 1 });
      expect(await conn.collection('things').countDocuments()).to.equal(1);
      await conn.close();
      const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      expect(await exited).to.equal(0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });

  it('standalone refuses to start with NODE_ENV=production', async function () {
    this.timeout(30_000);
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/store/engine/standalone.ts', '--port', '0'], {
      cwd: process.cwd(), env: { ...process.env, NODE_ENV: 'production' }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    child.stderr.on('data', (chunk: Buffer) => { err += chunk.toString(); });
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code).to.equal(1);
    expect(err).to.contain('refusing to start the embedded MongoDB-wire engine with NODE_ENV=production');
  });
});
