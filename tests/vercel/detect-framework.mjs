// Prints, as JSON, the framework preset Vercel detects for the directory given: the slug of
// @vercel/fs-detectors' detectFrameworkRecord over @vercel/frameworks' list (what the dashboard
// preselects on import and what `vercel build` runs on a first deployment), or null for "Other".
import { detectFrameworkRecord, LocalFileSystemDetector } from '@vercel/fs-detectors';
import { frameworkList } from '@vercel/frameworks';

const root = process.argv[2];
const record = await detectFrameworkRecord({ fs: new LocalFileSystemDetector(root), frameworkList });
console.log(JSON.stringify(record?.slug ?? null));
