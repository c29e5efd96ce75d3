/**
 * rune's Node.js main: the launcher (src/launcher/rune.c) runs it for everything it does not handle itself
 * (the program is src/rune/program.ts).
 */
import { main } from '../rune/program.ts';

process.exitCode = await main(process.argv.slice(2));
