// The console's router: one view per path, links with data-route move between them without
// reloading, and the browser's back and forward buttons work.

// routes: {'/': view, ...}; a view is {title, render(container, params, navigate)} and render may
// return a function that stops what the view left running (timers, streams).
export function startRouter(container, routes, notFound) {
  let stop = null;

  function show() {
    if (stop) stop();
    stop = null;
    const view = routes[location.pathname] || notFound;
    container.replaceChildren();
    for (const link of document.querySelectorAll('nav.views a')) {
      if (link.getAttribute('href') === location.pathname) link.setAttribute('aria-current', 'page');
      else link.removeAttribute('aria-current');
    }
    document.title = `${view.title} · Image Market`;
    stop = view.render(container, new URLSearchParams(location.search), navigate) || null;
  }

  // `replace`: the same view with new parameters (a search) takes no history entry of its own.
  function navigate(url, {replace = false, render = true} = {}) {
    if (replace) history.replaceState(null, '', url);
    else history.pushState(null, '', url);
    if (render) show();
  }

  document.addEventListener('click', (event) => {
    const link = event.target.closest('a[data-route]');
    if (!link || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return;
    event.preventDefault();
    navigate(link.getAttribute('href'));
  });
  window.addEventListener('popstate', show);
  show();
}
