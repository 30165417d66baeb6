// Signs each case of the JSON array on standard input with the official
// client library (AWS's presigner, Google's Storage client) and prints one
// URL per line: what tests/e2e/signing.sh compares the project's with.
import { readFileSync } from "node:fs";
import { S3Client, GetObjectCommand } from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { Storage } from "@google-cloud/storage";

const cases = JSON.parse(readFileSync(0, "utf8"));
const RealDate = Date;
for (const c of cases) {
  let url;
  if (c.kind === "s3") {
    const client = new S3Client({
      region: c.region,
      credentials: { accessKeyId: c.access_key, secretAccessKey: c.secret_key },
      ...(c.bucket ? { endpoint: `${c.scheme}://${c.authority}`, forcePathStyle: true } : {}),
    });
    const bucket = c.bucket ?? c.host.split(".")[0];
    url = await getSignedUrl(client, new GetObjectCommand({ Bucket: bucket, Key: c.object }),
      { expiresIn: c.expires, signingDate: new RealDate(c.when * 1000) });
  } else {
    // The client signs at the present moment: the present is the case's.
    globalThis.Date = class extends RealDate {
      constructor(...a) { super(...(a.length ? a : [c.when * 1000])); }
      static now() { return c.when * 1000; }
    };
    const storage = new Storage({ keyFilename: c.key_file });
    [url] = await storage.bucket(c.bucket).file(c.object).getSignedUrl({
      version: "v4", action: "read", expires: (c.when + c.expires) * 1000 });
    globalThis.Date = RealDate;
  }
  console.log(url);
}
