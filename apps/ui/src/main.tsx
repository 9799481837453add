/** The dashboard's entry: mounts the app into the page (public/index.html). */
import { render } from 'preact';
import { App } from './app.js';

render(<App />, document.getElementById('app') as HTMLElement);
