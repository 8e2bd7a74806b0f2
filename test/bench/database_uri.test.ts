/**
 * The flows bench drops its database when it ends: pointed at an operator's MongoDB (`MONGODB_URI`), it must use a
 * database of its own on that server, never the one the URI names.
 */
import { expect } from 'chai';
import { benchDatabaseUri } from '../../bench/flows/database_uri.ts';

describe('the flows bench on an operator\'s MongoDB', function () {
  it('uses a database of its own, never the one MONGODB_URI names', function () {
    expect(benchDatabaseUri('mongodb://db.example:27017/oidc_stepup', 'bench_1')).to.equal('mongodb://db.example:27017/bench_1');
    expect(benchDatabaseUri('mongodb://db.example:27017', 'bench_1')).to.equal('mongodb://db.example:27017/bench_1');
    expect(benchDatabaseUri('mongodb://db.example:27017/', 'bench_1')).to.equal('mongodb://db.example:27017/bench_1');
  });

  it('keeps the options, and the named database as the source of the credentials', function () {
    expect(benchDatabaseUri('mongodb://a:1,b:2/shop?replicaSet=rs0&w=majority', 'bench_2')).to.equal('mongodb://a:1,b:2/bench_2?replicaSet=rs0&w=majority');
    expect(benchDatabaseUri('mongodb://app:p%40ss@db.example/oidc_stepup?tls=true', 'bench_3'))
      .to.equal('mongodb://app:p%40ss@db.example/bench_3?tls=true&authSource=oidc_stepup');
    expect(benchDatabaseUri('mongodb+srv://app:secret@cluster.example/oidc_stepup?authSource=admin', 'bench_4'))
      .to.equal('mongodb+srv://app:secret@cluster.example/bench_4?authSource=admin');
  });

  it('refuses what is not a MongoDB URI', function () {
    expect(() => benchDatabaseUri('postgres://db.example/app', 'bench_5')).to.throw('MONGODB_URI is not a mongodb:// or mongodb+srv:// URI');
  });
});
