// Boost.URL's compiled part, built here from Debian's headers (libboost1.81-dev) so that
// neither this project nor an embedder of libmarket needs the separate libboost_url library.
#include <boost/url/src.hpp>
