// Prints, as a JSON array, the files `vercel deploy` would upload from the directory given:
// @vercel/client's buildFileTree, the function the CLI uses, with its default ignores and the
// directory's .vercelignore.
import { buildFileTree } from '@vercel/client';
import { relative, sep } from 'node:path';

const root = process.argv[2];
const { fileList } = await buildFileTree(root, { isDirectory: true, prebuilt: false }, () => {});
const files = fileList.map(file => relative(root, file).split(sep).join('/')).sort();
console.log(JSON.stringify(files));
