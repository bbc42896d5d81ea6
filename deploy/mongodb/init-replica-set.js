// Run by the mongo-init service of compose.yaml at every `docker compose up` (mongosh, connected to mongo1 from
// localhost); it changes nothing when everything is already in place. Initiates replica set rs0 on the three
// members, waits for a primary, then creates the administrator and the node's own user, which may read and write
// the `mais` database and nothing else.
const members = ["mongo1:27017", "mongo2:27017", "mongo3:27017"];
const config = { _id: "rs0", members: members.map((host, i) => ({ _id: i, host })) };
const admin = db.getSiblingDB("admin");

let authenticated = false;
try {
  authenticated = admin.auth("root", process.env.MONGO_ROOT_PASSWORD).ok === 1;
} catch (error) {
  print("no administrator yet: first run, under MongoDB's localhost exception");
}

// `hello` answers without authentication; a member started with --replSet names its set only once it has a config.
if (db.hello().setName === undefined) {
  rs.initiate(config);
  print("replica set rs0 initiated");
} else {
  print(`replica set ${db.hello().setName} already initiated`);
}

for (let tries = 0; !db.hello().isWritablePrimary; tries++) {
  if (tries > 120) throw new Error("no primary after 60 s");
  sleep(500);
}

if (!authenticated) {
  // Allowed only while the set has no user at all; it closes the localhost exception.
  admin.createUser({ user: "root", pwd: process.env.MONGO_ROOT_PASSWORD, roles: ["root"] });
  admin.auth("root", process.env.MONGO_ROOT_PASSWORD);
  print("administrator created");
}

const mais = db.getSiblingDB("mais");
if (!mais.getUser("mais")) {
  mais.createUser({ user: "mais", pwd: process.env.MAIS_DB_PASSWORD, roles: [{ role: "readWrite", db: "mais" }] });
  print("node user created");
}
